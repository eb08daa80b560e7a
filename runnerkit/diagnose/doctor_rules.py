"""`runnerkit doctor`, the pure part: check results, token facts, which kubeconfig/namespace kubectl
and helm pick, `--need` expansion and the rule and runnerkit.yaml change that grant what is missing.
"""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..model import presets
from ..errors import InputError
from ..cluster.incluster import TokenFacts
from ..model.rbac import Access, expand, merge_rules, parse_access

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
MARK = {OK: "✔", WARN: "!", FAIL: "✘", SKIP: "-"}
EXPIRY_WARNING_SECONDS = 300
# `view` and friends are bound, not rendered: a sample of what they allow stands for them.
CLUSTER_ROLE_SAMPLES = {
    "view": ("get pods", "list configmaps", "list services", "list deployments.apps"),
    "edit": ("create deployments.apps", "update configmaps", "create secrets", "delete pods"),
    "admin": ("create rolebindings", "create deployments.apps", "create secrets", "delete pods"),
}


@dataclass
class DoctorCheck:
    section: str
    status: str
    message: str
    fix: str = ""
    details: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


# -- the ServiceAccount token (claims only: the token itself is never shown) -----------------------------


def _duration(seconds: float) -> str:
    seconds = int(abs(seconds))
    if seconds >= 86400:
        return f"{seconds // 86400}d{seconds % 86400 // 3600}h"
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


def token_results(facts: TokenFacts, now: datetime, namespace_file: str | None) -> list[DoctorCheck]:
    out = []
    who = f"ServiceAccount {facts.service_account or '?'} in namespace {facts.namespace or '?'}"
    out.append(DoctorCheck("identity", OK if facts.service_account and facts.namespace else FAIL,
                      f"{who} (decoded locally from the token's claims)",
                      "" if facts.service_account else "the token is not a ServiceAccount token"))
    if namespace_file and facts.namespace and namespace_file != facts.namespace:
        out.append(DoctorCheck("identity", WARN, f"the mounted namespace file says {namespace_file!r} but the "
                          f"token belongs to {facts.namespace!r}",
                          "the ServiceAccount volume was assembled by hand; trust the token"))
    aud = ", ".join(facts.audiences) or "none"
    if facts.legacy:
        out.append(DoctorCheck("identity", WARN, f"legacy Secret-based token: never expires, audience {aud}",
                          "a leaked copy works until its Secret is deleted; use the projected token the "
                          "kubelet mounts (Kubernetes >= 1.21) or `runnerkit token` for a short-lived one"))
    elif facts.expires is None:
        out.append(DoctorCheck("identity", WARN, f"bound token without an expiry, audience {aud}"))
    else:
        left = (facts.expires - now).total_seconds()
        bound = f", bound to pod {facts.pod}" if facts.pod else ""
        when = facts.expires.strftime("%Y-%m-%dT%H:%M:%SZ")
        if left <= 0:
            out.append(DoctorCheck("identity", FAIL, f"token expired {_duration(left)} ago ({when}), audience {aud}",
                              "the kubelet refreshes a projected token on its own: a copy made earlier (an "
                              "env variable, a file) goes stale; read the mounted file on every use "
                              "(`runnerkit kubeconfig` writes a kubeconfig with tokenFile)"))
        else:
            status = WARN if left < EXPIRY_WARNING_SECONDS else OK
            out.append(DoctorCheck("identity", status, f"bound (projected) token{bound}: expires in "
                              f"{_duration(left)} ({when}), audience {aud}"))
    return out


# -- which kubeconfig, context, server, CA and namespace kubectl and helm use ---------------------------


@dataclass(frozen=True)
class Target:
    source: str  # "kubeconfig" or "in-cluster"
    server: str | None
    ca_pem: bytes | None
    ca_source: str  # where the CA comes from, for messages
    insecure: bool = False
    namespace: str | None = None  # the context's namespace (kubeconfig) or the mounted one
    context: str | None = None
    user: str | None = None
    paths: tuple[str, ...] = ()
    problem: str | None = None  # why this kubeconfig cannot be used
    token: str | None = field(default=None, repr=False)  # the user's bearer token: claims only, never shown


def merged_kubeconfig(docs: list[tuple[str, dict]], context: str | None) -> Target:
    """kubectl's merge of KUBECONFIG files: the first file naming a cluster/user/context wins."""
    # Keyed by whatever `name` holds (kubectl matches a nameless entry to a nameless reference too).
    clusters: dict[Any, tuple[str, dict]] = {}
    users: dict[Any, dict] = {}
    contexts: dict[Any, dict] = {}
    current = None
    for path, doc in docs:
        doc = doc if isinstance(doc, dict) else {}
        for item in doc.get("clusters") or []:
            if isinstance(item, dict) and item.get("name") not in clusters:
                clusters[item.get("name")] = (path, item.get("cluster") or {})
        for key, into in (("users", users), ("contexts", contexts)):
            for item in doc.get(key) or []:
                if isinstance(item, dict) and item.get("name") not in into:
                    into[item.get("name")] = item.get(key[:-1]) or {}
        current = current or doc.get("current-context")
    paths = tuple(p for p, _ in docs)
    name = context or current
    if not name or name not in contexts:
        problem = (f"context {name!r} is not defined" if name else "no current-context is set")
        return Target("kubeconfig", None, None, "", paths=paths, context=name, problem=problem)
    ctx = contexts[name]
    path, cluster = clusters.get(ctx.get("cluster"), ("", {}))
    ca_pem, ca_source = None, "the system's trusted CAs"
    if cluster.get("certificate-authority-data"):
        try:
            ca_pem = base64.b64decode(cluster["certificate-authority-data"])
            ca_source = f"certificate-authority-data of cluster {ctx.get('cluster')!r}"
        except ValueError:
            ca_source = "certificate-authority-data (not valid base64)"
    elif cluster.get("certificate-authority"):
        ca_path = Path(path).parent / Path(cluster["certificate-authority"]).expanduser()
        ca_source = str(ca_path)
        try:
            ca_pem = ca_path.read_bytes()
        except OSError:
            ca_pem = b""
    user = users.get(ctx.get("user")) or {}
    token = user.get("token")
    if not token and user.get("tokenFile"):
        try:
            token = Path(user["tokenFile"]).expanduser().read_text().strip()
        except OSError:
            token = None
    return Target("kubeconfig", cluster.get("server"), ca_pem, ca_source,
                  bool(cluster.get("insecure-skip-tls-verify")), ctx.get("namespace") or None, name,
                  ctx.get("user"), paths, token=token if isinstance(token, str) else None)


def namespace_results(target: Target, flag: str | None, env: dict, pod_namespace: str | None) -> tuple[str, list[DoctorCheck]]:
    """The namespace kubectl and helm act in and why; returns (kubectl's namespace, results)."""
    if flag:
        return flag, [DoctorCheck("namespace", OK, f"kubectl and helm use namespace {flag}: you passed -n {flag}")]
    if target.source == "kubeconfig":
        if target.namespace:
            kubectl, why = target.namespace, f"the namespace of kubeconfig context {target.context!r}"
        else:
            kubectl, why = "default", f"kubeconfig context {target.context!r} sets no namespace"
    elif env.get("POD_NAMESPACE"):
        kubectl, why = env["POD_NAMESPACE"], "in-cluster config: the POD_NAMESPACE variable"
    elif pod_namespace:
        kubectl, why = pod_namespace, "in-cluster config: the mounted ServiceAccount's namespace file"
    else:
        kubectl, why = "default", "in-cluster config without a namespace file"
    out = []
    status = OK
    fix = ""
    if kubectl == "default" and pod_namespace and pod_namespace != "default":
        status = WARN
        fix = (f"the pod runs in {pod_namespace}: set the context's namespace (`runnerkit kubeconfig` pins it) "
               f"or pass -n {pod_namespace}")
    helm = env.get("HELM_NAMESPACE")
    if helm and helm != kubectl:
        out.append(DoctorCheck("namespace", status, f"kubectl uses namespace {kubectl}: {why}", fix))
        out.append(DoctorCheck("namespace", OK, f"helm uses namespace {helm}: the HELM_NAMESPACE variable"))
    else:
        out.append(DoctorCheck("namespace", status, f"kubectl and helm use namespace {kubectl}: {why}", fix))
    return kubectl, out


# -- needs ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Need:
    label: str
    accesses: tuple[Access, ...]
    preset: str | None = None
    cluster_role: str | None = None


def parse_need(text: str) -> Need:
    name = text.strip()
    if name in presets.PRESETS:
        preset = presets.PRESETS[name]
        if preset.cluster_role:
            samples = CLUSTER_ROLE_SAMPLES.get(preset.cluster_role, ())
            return Need(name, tuple(parse_access(s) for s in samples), name, preset.cluster_role)
        accesses = tuple(dict.fromkeys(a for rule in preset.rules for a in expand(rule)))
        return Need(name, accesses, name)
    if " " not in name:
        raise InputError(f"--need {text!r}: not a preset ({', '.join(presets.PRESETS)}) and not "
                         "VERB RESOURCE such as \"list secrets\" or \"create deployments.apps\"")
    return Need(name, (parse_access(name),))


def _flow(items: list[str]) -> str:
    return "[" + ", ".join('""' if i == "" else (f'"{i}"' if i == "*" else i) for i in items) + "]"


def rules_yaml(rules: list[dict], indent: int) -> list[str]:
    pad = " " * indent
    out = []
    for rule in rules:
        out.append(f"{pad}- apiGroups: {_flow(rule['apiGroups'])}")
        out.append(f"{pad}  resources: {_flow(rule['resources'])}")
        if rule.get("resourceNames"):
            out.append(f"{pad}  resourceNames: {_flow(rule['resourceNames'])}")
        out.append(f"{pad}  verbs: {_flow(rule['verbs'])}")
    return out


def grant_fix(need: Need, missing: list[Access], project: str | None, sa_namespace: str | None,
              namespace: str | None) -> list[str]:
    """The Role rules that are missing and the runnerkit.yaml grant that adds them."""
    rules = merge_rules(missing)
    cluster = any(a.cluster_scoped for a in missing)
    kind = "ClusterRole" if cluster else "Role"
    lines = [f"missing {kind} rule{'s' if len(rules) > 1 else ''}:"] + rules_yaml(rules, 2)
    where = f"project {project}" if project else "the project whose ServiceAccount this is"
    lines.append(f"grant it in runnerkit.yaml ({where}), then `runnerkit apply`:")
    lines.append(f"  - name: {project or '<project>'}")
    lines.append("    access:")
    if need.preset:
        lines.append(f"      - preset: {need.preset}")
    else:
        lines.append("      - rules:")
        lines += rules_yaml(rules, 10)
    if cluster:
        lines.append("        clusterWide: true")
    elif namespace and sa_namespace and namespace != sa_namespace:
        lines.append(f"        namespaces: [{namespace}]")
    return lines


def self_review_result(answer: dict | None, sa: tuple[str, str] | None) -> tuple[str, str, str, str]:
    """(user, status, message, fix) from a SelfSubjectReview answer; `sa` is the (namespace, name)
    the mounted token claims to be, if any."""
    info = ((answer or {}).get("status") or {}).get("userInfo") or {}
    user = info.get("username", "?")
    expected = f"system:serviceaccount:{sa[0]}:{sa[1]}" if sa else None
    status = WARN if expected and user != expected else OK
    message = f"the API server sees {user} (SelfSubjectReview), groups " + ", ".join(info.get("groups") or [])
    return user, status, message, f"the credentials in use are not {expected}'s" if status == WARN else ""
