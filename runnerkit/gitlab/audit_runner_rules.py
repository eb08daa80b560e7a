"""What a GitLab Runner's own [runners.kubernetes] settings let jobs do, and where its jobs reach.

Pure: one parsed [[runners]] entry (plus the inventory audit already listed) in, findings out. The
reach line needs no request of its own: ServiceAccounts and bindings come from the same lists.
"""

from __future__ import annotations

import re
from typing import Protocol

from ..model.findings import HIGH, INFO, MEDIUM, Check, Finding, make_finding
from ..model.rbac import Access, RoleIndex, rules_allow, subject_includes

POD_OVERWRITES = ("pod_labels_overwrite_allowed", "pod_annotations_overwrite_allowed",
                  "service_account_overwrite_allowed")
SAFE_PULL_POLICIES = {"always"}
SECRET_READ = Access("get", "secrets")
SECRET_LIST = Access("list", "secrets")

SETTING_CHECKS = (
    Check("runner-privileged", HIGH, "runner runs job containers privileged",
          "privileged = true gives every job's containers root on the node: they read other pods' "
          "ServiceAccount tokens and secrets mounted there, whatever RBAC says",
          "set privileged = false under [runners.kubernetes]; build images rootless (kaniko, buildah) "
          "or on a dedicated runner whose nodes run nothing else"),
    Check("runner-any-image", MEDIUM, "runner accepts any job or service image",
          "an empty allowed_images / allowed_services lets every job run any image next to the "
          "runner's helper, with the job's ServiceAccount token mounted",
          "list the images jobs may use: allowed_images = [\"registry.example.com/ci/*\"] and "
          "allowed_services = [...] under [runners.kubernetes]"),
    Check("runner-pull-policy", MEDIUM, "jobs may skip pulling their image",
          "allowed_pull_policies includes if-not-present or never: a job can start an image another "
          "project already pulled onto the node with its registry credentials, without being allowed to "
          "pull it (gitlab-runner #37859)",
          "set allowed_pull_policies = [\"always\"] (and pull_policy = \"always\") on shared runners"),
    Check("pod-overwrite-one-namespace", MEDIUM, "jobs pick pod identity inside one shared namespace",
          "pod_labels/pod_annotations/service_account overwrites without namespace_overwrite_allowed: "
          "every project's jobs run in the runner's one namespace and may pick each other's "
          "ServiceAccounts, or set the labels and annotations that policies and network rules key on",
          "give each project its own namespace and ServiceAccount: `runnerkit gitlab configure-runner "
          "runnerkit.yaml` writes anchored namespace and ServiceAccount overwrite regexes"),
    Check("namespace-per-job", HIGH, "runner creates a namespace per job",
          "namespace_per_job = true makes the runner's ServiceAccount create and delete namespaces "
          "cluster-wide, and the runner ignores namespace_overwrite_allowed",
          "set namespace_per_job = false and let jobs choose among the project namespaces runnerkit "
          "creates (namespace_overwrite_allowed from `runnerkit gitlab configure-runner`)"),
    Check("helper-image-override", MEDIUM, "runner uses a custom helper image",
          "the helper container of every job clones the repository and handles the job's tokens and "
          "artifacts: whoever can push that tag controls every job",
          "remove helper_image to use the runner's own, or pin it by digest (image@sha256:...) from a "
          "registry you control"),
    Check("runner-reach", INFO, "what the runner's jobs can reach",
          "computed from the overwrite regexes, the listed ServiceAccounts and their bindings",
          "narrow the overwrite regexes and grants until this is what the jobs need"),
)
_BY_ID = {c.id: c for c in SETTING_CHECKS}


class Listed(Protocol):
    """The lists an audit already holds (diagnose.audit.Inventory) that the reach line reads."""

    @property
    def service_accounts(self) -> list[dict]: ...
    @property
    def cluster_role_bindings(self) -> list[dict]: ...
    @property
    def role_bindings(self) -> list[dict]: ...


def finding(check: str, subject: str, rule: str = "", namespace: str | None = None, detail: str = "",
            severity: str | None = None) -> Finding:
    return make_finding(_BY_ID[check], subject, rule=rule, namespace=namespace, detail=detail, severity=severity)


def _set(value: object) -> bool:
    return isinstance(value, str) and bool(value)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def setting_findings(kube: dict, where: str, who: str, ns: str | None, shared: bool) -> list[Finding]:
    """Findings for one runner's kubernetes settings. `where` prefixes the rule text
    (`config.template.toml [[runners]][0].kubernetes`)."""
    out = []
    if kube.get("privileged") is True:
        out.append(finding("runner-privileged", who, rule=f"{where}.privileged = true", namespace=ns))
    for key in ("allowed_images", "allowed_services"):
        if not kube.get(key):
            out.append(finding("runner-any-image", who, rule=f"{where}.{key} is empty", namespace=ns,
                               severity=MEDIUM if shared else INFO,
                               detail="jobs of several projects choose namespaces on this runner" if shared
                               else "one namespace: it matters once the runner is shared"))
    pulls = kube.get("allowed_pull_policies")
    if isinstance(pulls, list) and set(map(str, pulls)) - SAFE_PULL_POLICIES:
        out.append(finding("runner-pull-policy", who, namespace=ns,
                           rule=f"{where}.allowed_pull_policies = {sorted(map(str, pulls))}"))
    if not _set(kube.get("namespace_overwrite_allowed")):
        for key in POD_OVERWRITES:
            if _set(kube.get(key)):
                out.append(finding("pod-overwrite-one-namespace", who, namespace=ns,
                                   rule=f'{where}.{key} = "{kube[key]}" without namespace_overwrite_allowed'))
    if kube.get("namespace_per_job") is True:
        out.append(finding("namespace-per-job", who, rule=f"{where}.namespace_per_job = true", namespace=ns,
                           severity=HIGH))
    helper = _text(kube.get("helper_image"))
    if helper and "@sha256:" not in helper:
        out.append(finding("helper-image-override", who, rule=f'{where}.helper_image = "{helper}"', namespace=ns))
    return out


def _matches(regex: object, value: str) -> bool:
    # gitlab-runner: an empty regex disables the overwrite; Go's MatchString is an unanchored search.
    if not _set(regex):
        return False
    try:
        return re.search(str(regex), value) is not None
    except re.error:
        return False


def reach(kube: dict, runner_ns: str, inv: Listed, index: RoleIndex) -> tuple[dict[str, list[str]], list[str]]:
    """({namespace: [ServiceAccounts jobs may run as]}, ["SA reads secrets in NS", ...])."""
    job_ns = _text(kube.get("namespace")) or runner_ns
    default_sa = _text(kube.get("service_account")) or "default"
    accounts: dict[str, set[str]] = {}
    for sa in inv.service_accounts:
        meta = sa.get("metadata") or {}
        ns, name = meta.get("namespace") or "", meta.get("name") or ""
        if ns != job_ns and not _matches(kube.get("namespace_overwrite_allowed"), ns):
            continue
        if name == default_sa or _matches(kube.get("service_account_overwrite_allowed"), name):
            accounts.setdefault(ns, set()).add(name)
    accounts.setdefault(job_ns, set()).add(default_sa)  # the pod's own, even if not listed
    secrets = []
    for ns, names in sorted(accounts.items()):
        for name in sorted(names):
            where = _secret_reach(inv, index, ns, name)
            if where:
                secrets.append(f"{name} may read secrets in {where}")
    return {ns: sorted(names) for ns, names in sorted(accounts.items())}, secrets


def _secret_reach(inv: Listed, index: RoleIndex, ns: str, sa: str) -> str:
    reached: list[str] = []
    for binding, cluster_wide in [(b, True) for b in inv.cluster_role_bindings] + [(b, False) for b in inv.role_bindings]:
        if not any(subject_includes(s, ns, sa) for s in binding.get("subjects") or []):
            continue
        ref = binding.get("roleRef") or {}
        bns = (binding.get("metadata") or {}).get("namespace")
        rules = index.rules(ref.get("kind", ""), ref.get("name", ""), bns) or []
        if rules_allow(rules, SECRET_READ) or rules_allow(rules, SECRET_LIST):
            reached.append("every namespace" if cluster_wide else str(bns))
    if "every namespace" in reached:
        return "every namespace"
    return ", ".join(sorted(set(reached)))


def reach_text(accounts: dict[str, list[str]], secrets: list[str]) -> str:
    runs_as = "; ".join(f"{', '.join(names)} in {ns}" for ns, names in accounts.items())
    return f"jobs may run as {runs_as}" + (f"; {'; '.join(secrets)}" if secrets else "; none may read secrets")
