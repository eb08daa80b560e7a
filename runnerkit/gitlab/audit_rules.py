"""GitLab Runner ConfigMaps in an audit: recognise them, find their job namespaces, flag loose overwrite
settings. Pure: ConfigMap dicts in, findings out.
"""

from __future__ import annotations

import re
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = None  # type: ignore[assignment]  # the module or None: parse_toml falls back to tomlkit

from ..model.findings import HIGH, MEDIUM, Check, Finding, make_finding
from ..model.rbac import RoleIndex
from .audit_runner_rules import SETTING_CHECKS, Listed, reach, reach_text, setting_findings
from .template import TEMPLATE_KEY

CONFIG_KEY = "config.toml"
IDENTITY_KEYS = ("namespace_overwrite_allowed", "service_account_overwrite_allowed")
BEARER_KEY = "bearer_token_overwrite_allowed"

RUNNER_CHECKS = (
    Check("overwrite-any", HIGH, "runner lets jobs choose any namespace or ServiceAccount",
          "a job that sets KUBERNETES_NAMESPACE_OVERWRITE / KUBERNETES_SERVICE_ACCOUNT_OVERWRITE can run "
          "in any namespace the runner reaches, as any ServiceAccount there",
          "`runnerkit gitlab configure-runner runnerkit.yaml` writes anchored regexes of exactly the "
          "namespaces and ServiceAccounts the spec declares"),
    Check("overwrite-any-other", MEDIUM, "runner lets jobs overwrite pod settings freely",
          "jobs may set that pod field to any value (node selectors, tolerations, labels or annotations "
          "that policies key on)",
          "narrow the regex to the values jobs need, anchored with ^...$"),
    Check("overwrite-unanchored", MEDIUM, "unanchored overwrite regex",
          "the runner matches these regexes unanchored (Go RE2 MatchString): `ci` also allows "
          "`ci-prod` and `kube-system-ci`",
          "anchor it as ^(?:a|b)$; `runnerkit gitlab configure-runner runnerkit.yaml` writes it so"),
    Check("bearer-token-overwrite", MEDIUM, "jobs may supply their own bearer token",
          "with bearer_token_overwrite_allowed = true a job's KUBERNETES_BEARER_TOKEN replaces the "
          "runner's credentials, so the runner's namespace and ServiceAccount limits no longer apply",
          "set bearer_token_overwrite_allowed = false (or remove it) under [runners.kubernetes]"),
    Check("multiple-runners-template", MEDIUM, "runner template with more than one [[runners]]",
          "`gitlab-runner register --template-config` merges only the first [[runners]] entry: the "
          "settings in the others (often the restrictive ones) are silently ignored",
          "keep exactly one [[runners]] section in config.template.toml"),
) + SETTING_CHECKS
_BY_ID = {c.id: c for c in RUNNER_CHECKS}

# A regex that allows all of these allows anything a job could ask for.
PROBES = ("kube-system", "default", "a", "zz-9.x")


def parse_toml(text: str) -> dict | None:
    try:
        if tomllib is not None:
            return tomllib.loads(text)
        import tomlkit

        return tomlkit.parse(text).unwrap()
    except Exception:  # noqa: BLE001 - any parse failure means "not a runner config we can read"
        return None


def runner_documents(cm: dict) -> list[tuple[str, dict]]:
    """(key, parsed TOML) of a ConfigMap's runner configs; empty when it is not a GitLab Runner's."""
    data = cm.get("data") or {}
    out = []
    template = data.get(TEMPLATE_KEY)
    if isinstance(template, str):
        doc = parse_toml(template)
        if doc is not None:
            out.append((TEMPLATE_KEY, doc))
    config = data.get(CONFIG_KEY)
    if isinstance(config, str):
        doc = parse_toml(config)
        # config.toml is a common name: only a runner's has [[runners]] or its global `concurrent`.
        if doc is not None and (out or "runners" in doc or "concurrent" in doc):
            out.append((CONFIG_KEY, doc))
    return out


def runner_entries(doc: dict) -> list[dict]:
    runners = doc.get("runners")
    return [r for r in runners if isinstance(r, dict)] if isinstance(runners, list) else []


def _kubernetes(entry: dict) -> dict:
    k = entry.get("kubernetes")
    return k if isinstance(k, dict) else {}


def runner_namespaces(config_maps: list[dict]) -> set[str]:
    """Namespaces runners live in, and the literal namespaces their jobs run in."""
    out: set[str] = set()
    for cm in config_maps:
        docs = runner_documents(cm)
        if not docs:
            continue
        out.add((cm.get("metadata") or {}).get("namespace") or "")
        for _, doc in docs:
            for entry in runner_entries(doc):
                ns = _kubernetes(entry).get("namespace")
                if isinstance(ns, str) and ns and not any(c in ns for c in "{$ "):
                    out.add(ns)
    out.discard("")
    return out


def matches_anything(regex: str) -> bool:
    try:
        compiled = re.compile(regex)
    except re.error:
        return False
    return all(compiled.search(p) for p in PROBES)


def anchored(regex: str) -> bool:
    """^...$ around the whole expression (a top-level `|` splits the anchors: `^a|b$`)."""
    if not regex.startswith(("^", r"\A")):
        return False
    if not (regex.endswith("$") and not regex.endswith(r"\$")) and not regex.endswith(r"\z"):
        return False
    depth, i, in_class = 0, 0, False
    while i < len(regex):
        c = regex[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            return False
        i += 1
    return True


def _toml_value(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else '"' + str(value) + '"'


def finding(check: str, subject: str, rule: str = "", namespace: str | None = None, detail: str = "") -> Finding:
    return make_finding(_BY_ID[check], subject, rule=rule, namespace=namespace, detail=detail)


def runner_config_findings(config_maps: list[dict], inv: Listed | None = None,
                           index: RoleIndex | None = None) -> list[Finding]:
    """Findings for every GitLab Runner config; with the listed ServiceAccounts and bindings (`inv`,
    `index`) also one INFO line per runner of what its jobs reach."""
    out = []
    for cm in config_maps:
        meta = cm.get("metadata") or {}
        ns = meta.get("namespace")
        who = f"ConfigMap {ns}/{meta.get('name')}"
        docs = runner_documents(cm)
        reach_key = docs[0][0] if docs else ""  # the template when there is one: it is what registers
        for key, doc in docs:
            entries = runner_entries(doc)
            if key == TEMPLATE_KEY and len(entries) > 1:
                out.append(finding("multiple-runners-template", who, rule=f"{key}: {len(entries)} [[runners]]",
                                   namespace=ns))
            for i, entry in enumerate(entries):
                kube = _kubernetes(entry)
                shared = bool(kube.get("namespace_overwrite_allowed"))
                out += setting_findings(kube, f"{key} [[runners]][{i}].kubernetes", who, ns, shared)
                if inv is not None and index is not None and key == reach_key:
                    label = entry.get("name") or f"[[runners]][{i}]"
                    out.append(finding("runner-reach", f"{who} runner {label}", namespace=ns,
                                       rule=reach_text(*reach(kube, ns or "", inv, index))))
                for name, value in sorted(kube.items()):
                    where = f"{key} [[runners]][{i}].kubernetes.{name} = {_toml_value(value)}"
                    if name == BEARER_KEY:
                        if value is True:
                            out.append(finding("bearer-token-overwrite", who, rule=where, namespace=ns))
                        continue
                    if not name.endswith("_overwrite_allowed") or not isinstance(value, str) or not value:
                        continue  # an empty regex disables the overwrite
                    identity = name in IDENTITY_KEYS
                    if matches_anything(value):
                        out.append(finding("overwrite-any" if identity else "overwrite-any-other", who,
                                           rule=where, namespace=ns, detail="it matches kube-system, default "
                                           "and any other name"))
                    elif not anchored(value):
                        out.append(finding("overwrite-unanchored", who, rule=where, namespace=ns))
    return out
