"""`runnerkit audit`: risky RBAC grants and runner configs, from objects already listed. Pure.

Cost is O(bindings x subjects + roles x rules): roles are indexed by (namespace, name) once, aggregated
ClusterRoles resolved once, and what a role can do is computed once per (role, binding scope).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from .audit_oidc import OIDC_CHECKS, OidcFacts, identity_findings, public_group_findings
from ..gitlab.audit_rules import RUNNER_CHECKS, runner_config_findings, runner_namespaces
from ..model.objects import MANAGED_BY, SPEC_LABEL
from ..model.findings import CRITICAL, HIGH, MEDIUM, RANK, Check, Finding, make_finding
from ..model.rbac import (RBAC_GROUP, READ_VERBS, Access, RoleIndex, is_wildcard, rule_text, rules_allow,
                   subject_namespace, subject_text)

CLUSTER_ADMIN = "cluster-admin"
BOOTSTRAP_NAMESPACE = "kube-system"
# Groups that stand for many workload identities: never excluded as "system:" subjects.
WORKLOAD_GROUPS = ("system:serviceaccounts", "system:authenticated", "system:unauthenticated")
ANONYMOUS_USER = "system:anonymous"  # not a controller either: whoever sends no credential

WORKLOADS = tuple(Access("create", r, g) for r, g in (
    ("pods", ""), ("deployments", "apps"), ("statefulsets", "apps"), ("daemonsets", "apps"),
    ("replicasets", "apps"), ("jobs", "batch"), ("cronjobs", "batch"), ("replicationcontrollers", "")))
SECRET_READS = tuple(Access(v, "secrets") for v in READ_VERBS)


RBAC_CHECKS = (
    Check("default-sa-admin", CRITICAL, "default ServiceAccount bound to cluster-admin or a wildcard role",
          "every pod in the namespace that does not name a ServiceAccount runs as `default`: every CI job "
          "there owns what this role reaches",
          "delete {binding}; give each project its own ServiceAccount with only the rules it needs "
          "(runnerkit.yaml `access:`, then `runnerkit apply`) and run jobs as that, never as `default`"),
    Check("cluster-admin-sa", CRITICAL, "cluster-admin bound to ServiceAccounts",
          "a workload identity with cluster-admin owns the cluster: anyone who can run a pod as it, or "
          "read its token, can do anything",
          "delete {binding}; find what the jobs really use with `runnerkit doctor --need ...`, declare "
          "exactly that in runnerkit.yaml and `runnerkit apply`"),
    Check("escalate", CRITICAL, "escalate on roles",
          "`escalate` lets the subject write roles with rights it does not have itself",
          "remove `escalate` (and '*') on roles/clusterroles from {role}; let `runnerkit apply` or an "
          "administrator manage RBAC"),
    Check("bind", CRITICAL, "bind on roles",
          "`bind` lets the subject bind any role, cluster-admin included, to itself",
          "remove `bind` (and '*') on roles/clusterroles from {role}"),
    Check("impersonate", CRITICAL, "impersonate",
          "`impersonate` lets the subject act as other users, groups or ServiceAccounts, with their rights",
          "remove `impersonate` (and '*') on users/groups/serviceaccounts from {role}"),
    Check("nodes-proxy", CRITICAL, "nodes/proxy",
          "nodes/proxy reaches every kubelet's API: exec into any pod on the node, past audit and admission",
          "remove nodes/proxy from {role}"),
    Check("sa-token", CRITICAL, "create serviceaccounts/token",
          "creating serviceaccounts/token mints a token for any ServiceAccount in reach, and so gets "
          "their rights",
          "remove `create` on serviceaccounts/token from {role}; mint tokens from an admin context with "
          "`runnerkit token PROJECT` instead"),
    Check("wildcard", HIGH, "wildcard verbs or resources",
          "'*' grants every verb or resource, including ones added to the cluster later (CRDs, "
          "subresources)",
          "list the resources and verbs the subject needs instead of '*' in {role}"),
    Check("secrets-cluster-wide", HIGH, "read secrets cluster-wide",
          "reading every Secret of the cluster yields other workloads' credentials and tokens",
          "replace {binding} with RoleBindings in the namespaces that need it (runnerkit.yaml "
          "`access: [{{..., namespaces: [...]}}]`)"),
    Check("exec-cluster-wide", HIGH, "pods/exec or pods/attach cluster-wide",
          "exec into any pod of the cluster runs commands with that pod's identity and secrets",
          "replace {binding} with RoleBindings in the namespaces that need it"),
    Check("workloads-and-secrets", HIGH, "create workloads and read secrets cluster-wide",
          "creating pods anywhere and reading Secrets anywhere is enough to take over any namespace's "
          "workloads and identities",
          "split the rights and bind them per namespace with RoleBindings instead of {binding}"),
    Check("runner-sa-cluster-wide", HIGH, "runner-namespace ServiceAccount with cluster-wide rights",
          "CI jobs run with the ServiceAccounts of runner namespaces: a cluster-wide grant there hands "
          "every pipeline the whole cluster's worth of that role",
          "replace {binding} with RoleBindings in the namespaces the jobs deploy to (runnerkit.yaml "
          "`access:` with `namespaces:`), then `runnerkit apply`"),
    Check("dangling-subject", MEDIUM, "binding names a ServiceAccount that does not exist",
          "whoever creates that ServiceAccount later (a job that may create namespaces, for one) "
          "inherits the binding's rights",
          "delete {binding} or its subject entry for {subject}"),
    Check("cluster-admin-user", MEDIUM, "cluster-admin bound to a user or group",
          "cluster-admin is unrestricted: keep the list of humans who hold it short and reviewed",
          "confirm {subject} needs cluster-admin; otherwise delete {binding}"),
)
CHECKS: dict[str, Check] = {c.id: c for c in RBAC_CHECKS + OIDC_CHECKS + RUNNER_CHECKS}


@dataclass(frozen=True)
class Inventory:
    """What audit lists: one list call per kind, across all namespaces."""

    cluster_roles: list[dict] = field(default_factory=list)
    roles: list[dict] = field(default_factory=list)
    cluster_role_bindings: list[dict] = field(default_factory=list)
    role_bindings: list[dict] = field(default_factory=list)
    service_accounts: list[dict] = field(default_factory=list)
    config_maps: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class Scope:
    namespaces: frozenset[str] | None = None  # -n: only these namespaces (None: all)
    runner_namespaces_only: bool = False
    include_system: bool = False
    spec_namespaces: frozenset[str] = frozenset()  # runner and project namespaces of --spec
    oidc: OidcFacts = OidcFacts()  # the API server's JWT issuers, as audit was told (audit_oidc.py)


def finding(check: str, subject: str, binding: str = "", role: str = "", rule: str = "",
            namespace: str | None = None, detail: str = "", severity: str | None = None) -> Finding:
    return make_finding(CHECKS[check], subject, binding, role, rule, namespace, detail, severity)


@dataclass
class AuditReport:
    findings: list[Finding]
    runner_namespaces: list[str]
    counts: dict[str, int]  # objects audited, by kind
    oidc_issuers: tuple[str, ...] = ()  # the issuers the OIDC checks assumed

    def at_least(self, severity: str) -> list[Finding]:
        return [f for f in self.findings if RANK[f.severity] <= RANK[severity]]


# -- capabilities of a role ------------------------------------------------------------------------------

# (check, requests any of which triggers it, cluster-scoped only, also rules limited by resourceNames)
CAPABILITIES: tuple[tuple[str, tuple[Access, ...], bool, bool], ...] = (
    ("escalate", (Access("escalate", "roles", RBAC_GROUP), Access("escalate", "clusterroles", RBAC_GROUP)), False, True),
    ("bind", (Access("bind", "roles", RBAC_GROUP), Access("bind", "clusterroles", RBAC_GROUP)), False, True),
    ("impersonate", (Access("impersonate", "serviceaccounts"),), False, True),
    ("impersonate", (Access("impersonate", "users"), Access("impersonate", "groups"),
                     Access("impersonate", "userextras/scopes", "authentication.k8s.io")), True, True),
    ("nodes-proxy", (Access("get", "nodes/proxy"), Access("create", "nodes/proxy")), True, True),
    ("sa-token", (Access("create", "serviceaccounts/token"),), False, True),
    ("secrets-cluster-wide", SECRET_READS, True, False),
    ("exec-cluster-wide", (Access("create", "pods/exec"), Access("get", "pods/exec"),
                           Access("create", "pods/attach"), Access("get", "pods/attach")), True, False),
)


def capabilities(rules: list[dict], cluster_wide: bool) -> list[tuple[str, dict]]:
    """(check, the rule that triggers it) for everything risky these rules allow at this scope."""
    out: list[tuple[str, dict]] = []
    seen: set[str] = set()
    for check, accesses, cluster_only, any_name in CAPABILITIES:
        if check in seen or (cluster_only and not cluster_wide):
            continue
        for access in accesses:
            rule = rules_allow(rules, access, any_name)
            if rule is not None:
                out.append((check, rule))
                seen.add(check)
                break
    wildcard = next((r for r in rules if is_wildcard(r)), None)
    if wildcard is not None:
        out.append(("wildcard", wildcard))
    if cluster_wide:
        create = next((r for a in WORKLOADS if (r := rules_allow(rules, a)) is not None), None)
        read = next((r for a in SECRET_READS if (r := rules_allow(rules, a)) is not None), None)
        if create is not None and read is not None:
            out.append(("workloads-and-secrets", create))
    return out


# -- the audit -------------------------------------------------------------------------------------------


def _excluded_subject(subject: dict) -> bool:
    name = subject.get("name") or ""
    if subject_namespace(subject) == BOOTSTRAP_NAMESPACE:
        return True
    if subject.get("kind") in ("User", "Group") and name.startswith("system:"):
        return not (name in WORKLOAD_GROUPS or name == ANONYMOUS_USER
                    or name.startswith("system:serviceaccounts:") or name.startswith("system:serviceaccount:"))
    return False


def _is_workload_identity(subject: dict) -> bool:
    name = subject.get("name") or ""
    return (subject.get("kind") == "ServiceAccount" or name in WORKLOAD_GROUPS
            or name.startswith("system:serviceaccount"))


def audit(inv: Inventory, scope: Scope = Scope()) -> AuditReport:
    index = RoleIndex(inv.cluster_roles, inv.roles)
    runner_ns = runner_namespaces(inv.config_maps) | set(scope.spec_namespaces)
    focus: set[str] | None = None
    if scope.namespaces is not None:
        focus = set(scope.namespaces)
    if scope.runner_namespaces_only:
        focus = runner_ns & focus if focus is not None else set(runner_ns)
    accounts = {((sa.get("metadata") or {}).get("namespace"), (sa.get("metadata") or {}).get("name"))
                for sa in inv.service_accounts}
    memo: dict[tuple, list[tuple[str, dict]]] = {}
    found: set[Finding] = set()

    def binding_findings(binding: dict, cluster_wide: bool) -> None:
        meta = binding.get("metadata") or {}
        new: set[Finding] = set()
        ns = None if cluster_wide else meta.get("namespace")
        if ns == BOOTSTRAP_NAMESPACE and not scope.include_system:
            return
        spec = managing_spec(meta)
        ref = binding.get("roleRef") or {}
        kind, role_name = ref.get("kind", ""), ref.get("name", "")
        binding_text = (f"ClusterRoleBinding/{meta.get('name')}" if cluster_wide
                        else f"RoleBinding/{meta.get('name')} -n {ns}")
        role_text = f"{kind}/{role_name}" + (f" -n {ns}" if kind == "Role" else "")
        rules = index.rules(kind, role_name, ns)
        key = (kind, ns if kind == "Role" else "", role_name, cluster_wide)
        if rules is not None and key not in memo:
            memo[key] = capabilities(rules, cluster_wide)
        for subject in binding.get("subjects") or []:
            subject_ns = subject_namespace(subject)
            if not scope.include_system and _excluded_subject(subject):
                continue
            if focus is not None and subject_ns not in focus and (cluster_wide or ns not in focus):
                continue
            who = subject_text(subject)
            if subject.get("kind") == "ServiceAccount" and (subject_ns, subject.get("name")) not in accounts:
                new.add(finding("dangling-subject", who, binding_text, role_text, namespace=subject_ns))
            where = subject_ns or ns
            # before the role check: a CI identity bound to a role that does not exist yet gets it once made
            grant = (ns, subject.get("kind", ""), subject.get("name", ""), kind, role_name)
            new.update(identity_findings(subject, who, binding_text, role_text, rules or [], where, grant, spec,
                                         scope.oidc))
            if rules is None:
                continue
            bound = BoundRole(binding_text, role_text, kind, role_name, rules, memo[key], cluster_wide, ns)
            new.update(_subject_findings(subject, who, subject_ns, bound, runner_ns))
            new.update(public_group_findings(subject, who, binding_text, role_text, rules, where,
                                             "cluster-wide" if cluster_wide else f"in namespace {ns}", scope.oidc))
        found.update((replace(f, managedBy=spec) for f in new) if spec else new)

    for crb in inv.cluster_role_bindings:
        binding_findings(crb, True)
    for rb in inv.role_bindings:
        binding_findings(rb, False)
    for f in runner_config_findings(inv.config_maps, inv, index):
        if focus is not None and f.namespace not in focus:
            continue
        if f.namespace == BOOTSTRAP_NAMESPACE and not scope.include_system:
            continue
        found.add(f)
    counts = {"ClusterRoles": len(inv.cluster_roles), "Roles": len(inv.roles),
              "ClusterRoleBindings": len(inv.cluster_role_bindings), "RoleBindings": len(inv.role_bindings),
              "ServiceAccounts": len(inv.service_accounts), "ConfigMaps": len(inv.config_maps)}
    return AuditReport(sorted(found), sorted(runner_ns), counts, scope.oidc.issuers)


def managing_spec(meta: dict) -> str:
    """The runnerkit spec whose apply renders this object ("" when runnerkit does not manage it)."""
    labels = meta.get("labels") or {}
    if labels.get(MANAGED_BY) != "runnerkit":
        return ""
    return labels.get(SPEC_LABEL) or "?"


@dataclass(frozen=True)
class BoundRole:
    """A role as one binding grants it: what every subject of that binding gets."""

    binding: str  # "RoleBinding/NAME -n NS" or "ClusterRoleBinding/NAME", for findings
    role: str  # "Role/NAME -n NS" or "ClusterRole/NAME"
    kind: str  # roleRef kind
    name: str  # roleRef name
    rules: list[dict]
    caps: list[tuple[str, dict]]  # (check, rule) of the risky capabilities in rules
    cluster_wide: bool
    namespace: str | None  # the binding's namespace (None for a ClusterRoleBinding)


def _subject_findings(subject: dict, who: str, subject_ns: str | None, bound: BoundRole,
                      runner_ns: set[str]) -> list[Finding]:
    binding, role, rules, cluster_wide, binding_ns = (bound.binding, bound.role, bound.rules,
                                                      bound.cluster_wide, bound.namespace)
    where = subject_ns or binding_ns
    first = rule_text(rules[0]) if rules else ""
    wildcard = next((rule_text(r) for r in rules if is_wildcard(r)), None)
    admin = bound.kind == "ClusterRole" and bound.name == CLUSTER_ADMIN
    # One finding tells the whole story for these: everything else would fire as well.
    if subject.get("kind") == "ServiceAccount" and subject.get("name") == "default" and (admin or wildcard):
        return [finding("default-sa-admin", who, binding, role, wildcard or first, where,
                        "cluster-wide" if cluster_wide else f"in namespace {binding_ns}")]
    if admin and _is_workload_identity(subject):
        return [finding("cluster-admin-sa", who, binding, role, wildcard or first, where,
                        "cluster-wide" if cluster_wide else f"in namespace {binding_ns}")]
    if admin:
        return [finding("cluster-admin-user", who, binding, role, wildcard or first, where)]
    out = [finding(check, who, binding, role, rule_text(rule), where) for check, rule in bound.caps]
    if cluster_wide and subject_ns in runner_ns and rules:
        out.append(finding("runner-sa-cluster-wide", who, binding, role, first, where,
                           f"{subject_ns} is a runner namespace"))
    return out
