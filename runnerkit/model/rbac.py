"""RBAC as data: rule matching (the API server's own semantics), label selectors, aggregated
ClusterRoles, subjects, and `VERB RESOURCE` requests. Pure: no network, no files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from ..errors import InputError

RBAC_GROUP = "rbac.authorization.k8s.io"
READ_VERBS = ("get", "list", "watch")
MATRIX_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete")
KNOWN_VERBS = frozenset(MATRIX_VERBS + ("deletecollection", "use", "bind", "escalate", "impersonate",
                                        "approve", "sign", "proxy", "*"))

# The API group of resources people name without one (what kubectl finds through discovery).
GROUP_OF = {
    **dict.fromkeys(("deployments", "statefulsets", "daemonsets", "replicasets", "controllerrevisions"), "apps"),
    **dict.fromkeys(("jobs", "cronjobs"), "batch"),
    **dict.fromkeys(("ingresses", "networkpolicies", "ingressclasses"), "networking.k8s.io"),
    **dict.fromkeys(("roles", "rolebindings", "clusterroles", "clusterrolebindings"), RBAC_GROUP),
    "horizontalpodautoscalers": "autoscaling",
    "poddisruptionbudgets": "policy", "podsecuritypolicies": "policy",
    "customresourcedefinitions": "apiextensions.k8s.io",
    **dict.fromkeys(("storageclasses", "volumeattachments", "csidrivers", "csinodes"), "storage.k8s.io"),
    "certificatesigningrequests": "certificates.k8s.io",
    **dict.fromkeys(("validatingwebhookconfigurations", "mutatingwebhookconfigurations"),
                    "admissionregistration.k8s.io"),
    "priorityclasses": "scheduling.k8s.io",
    "leases": "coordination.k8s.io",
    **dict.fromkeys(("tokenreviews", "selfsubjectreviews"), "authentication.k8s.io"),
    **dict.fromkeys(("subjectaccessreviews", "selfsubjectaccessreviews", "selfsubjectrulesreviews",
                     "localsubjectaccessreviews"), "authorization.k8s.io"),
}
CLUSTER_SCOPED = frozenset({
    "nodes", "nodes/proxy", "nodes/status", "namespaces", "persistentvolumes", "clusterroles",
    "clusterrolebindings", "customresourcedefinitions", "storageclasses", "priorityclasses",
    "certificatesigningrequests", "validatingwebhookconfigurations", "mutatingwebhookconfigurations",
    "podsecuritypolicies", "users", "groups", "volumeattachments", "csidrivers", "csinodes",
    "ingressclasses", "tokenreviews", "subjectaccessreviews", "selfsubjectaccessreviews",
    "selfsubjectrulesreviews", "selfsubjectreviews",
})


# -- requests and rules ------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Access:
    """One request an authorizer decides: `verb` on `resource` (maybe `pods/exec`) of `group`."""

    verb: str
    resource: str
    group: str = ""
    name: str | None = None

    def __hash__(self) -> int:
        # verify hashes the same few hundred requests millions of times at fleet scale
        try:
            cached: int = self.__dict__["_hash"]
            return cached
        except KeyError:
            h = self.__dict__["_hash"] = hash((self.verb, self.resource, self.group, self.name))
            return h

    @property
    def cluster_scoped(self) -> bool:
        return self.resource in CLUSTER_SCOPED

    def text(self) -> str:
        base, _, sub = self.resource.partition("/")
        out = f"{self.verb} {base}" + (f".{self.group}" if self.group else "") + (f"/{sub}" if sub else "")
        return out + (f" (name {self.name})" if self.name else "")

    def rule(self) -> dict:
        out = {"apiGroups": [self.group], "resources": [self.resource]}
        if self.name:
            out["resourceNames"] = [self.name]
        out["verbs"] = [self.verb]
        return out


def parse_access(text: str, what: str = "--need") -> Access:
    """kubectl's `VERB RESOURCE[.GROUP][/SUBRESOURCE]`: `list secrets`, `create deployments.apps`,
    `create pods/exec`. Well-known resources get their group when it is left out."""
    parts = text.split()
    if len(parts) != 2:
        raise InputError(f"{what} {text!r}: write VERB RESOURCE, e.g. \"list secrets\", "
                         "\"create deployments.apps\" or \"create pods/exec\" (or a preset name)")
    verb, resource = parts[0].lower(), parts[1].lower()
    if verb not in KNOWN_VERBS:
        raise InputError(f"{what} {text!r}: {verb!r} is not a Kubernetes verb; use one of "
                         + ", ".join(sorted(KNOWN_VERBS - {"*"})))
    base, _, sub = resource.partition("/")
    plural, _, group = base.partition(".")
    if not plural:
        raise InputError(f"{what} {text!r}: name a resource, e.g. secrets")
    group = group if group else GROUP_OF.get(plural, "")
    return Access(verb, plural + (f"/{sub}" if sub else ""), "" if group == "core" else group)


def _resource_matches(rule_resources: Iterable[str], resource: str) -> bool:
    # The API server's ResourceMatches: "*", the exact resource[/subresource], or "*/subresource".
    sub = resource.partition("/")[2]
    for r in rule_resources:
        if r == "*" or r == resource or (sub and r == f"*/{sub}"):
            return True
    return False


def rule_allows(rule: dict, access: Access, any_name: bool = False) -> bool:
    """Whether one PolicyRule allows the request. `any_name`: count rules limited by resourceNames
    (for "could this subject ever do it", rather than "may it do it on every object")."""
    if rule.get("nonResourceURLs") and not rule.get("resources"):
        return False
    verbs, groups = rule.get("verbs") or [], rule.get("apiGroups") or []
    if "*" not in verbs and access.verb not in verbs:
        return False
    if "*" not in groups and access.group not in groups:
        return False
    if not _resource_matches(rule.get("resources") or [], access.resource):
        return False
    names = rule.get("resourceNames") or []
    if not names or any_name:
        return True
    return access.name is not None and access.name in names


def rules_allow(rules: Iterable[dict], access: Access, any_name: bool = False) -> dict | None:
    """The first rule allowing the request, or None."""
    for rule in rules:
        if rule_allows(rule, access, any_name):
            return rule
    return None


def is_wildcard(rule: dict) -> bool:
    return "*" in (rule.get("verbs") or []) or "*" in (rule.get("resources") or [])


def expand(rule: dict) -> list[Access]:
    """The concrete requests a rule names (wildcards stay `*`; one Access per resourceName)."""
    names = rule.get("resourceNames") or [None]
    return [Access(v, r, g, n) for g in rule.get("apiGroups") or [""] for r in rule.get("resources") or []
            for v in rule.get("verbs") or [] for n in names]


def rule_text(rule: dict) -> str:
    def items(key: str) -> str:
        return "[" + ", ".join(f'"{x}"' if x in ("", "*") else x for x in rule.get(key) or []) + "]"

    if rule.get("nonResourceURLs") and not rule.get("resources"):
        return f"nonResourceURLs: {items('nonResourceURLs')} verbs: {items('verbs')}"
    out = f"apiGroups: {items('apiGroups')} resources: {items('resources')}"
    if rule.get("resourceNames"):
        out += f" resourceNames: {items('resourceNames')}"
    return out + f" verbs: {items('verbs')}"


def merge_rules(accesses: Iterable[Access]) -> list[dict]:
    """Few readable rules granting exactly these requests: one per (group, names, verbs)."""
    by_resource: dict[tuple, list[str]] = {}
    for a in accesses:
        verbs = by_resource.setdefault((a.group, a.resource, a.name), [])
        if a.verb not in verbs:
            verbs.append(a.verb)
    grouped: dict[tuple, list[str]] = {}
    for (group, resource, name), verbs in by_resource.items():
        grouped.setdefault((group, name, tuple(verbs)), []).append(resource)
    out = []
    for (group, name, verbs), resources in grouped.items():
        rule = {"apiGroups": [group], "resources": resources}
        if name:
            rule["resourceNames"] = [name]
        rule["verbs"] = list(verbs)
        out.append(rule)
    return out


# -- label selectors and aggregated ClusterRoles -----------------------------------------------------


def selector_matches(selector: dict | None, labels: dict) -> bool:
    """metav1.LabelSelector semantics: every matchLabels pair and every expression; {} matches all."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


class RoleIndex:
    """Roles and ClusterRoles by (kind, namespace, name), aggregated ClusterRoles resolved once."""

    def __init__(self, cluster_roles: list[dict], roles: list[dict]):
        self._cluster = {(c.get("metadata") or {}).get("name"): c for c in cluster_roles}
        self._roles = {((r.get("metadata") or {}).get("namespace"), (r.get("metadata") or {}).get("name")): r
                       for r in roles}
        self._resolved: dict[str, list[dict]] = {}

    def cluster_role(self, name: str) -> dict | None:
        return self._cluster.get(name)

    def rules(self, kind: str, name: str, namespace: str | None = None) -> list[dict] | None:
        """The effective rules of a roleRef; None when the role does not exist."""
        if kind == "ClusterRole":
            return self._cluster_rules(name, set()) if name in self._cluster else None
        role = self._roles.get((namespace, name))
        return None if role is None else list(role.get("rules") or [])

    def _cluster_rules(self, name: str, visiting: set[str]) -> list[dict]:
        if name in self._resolved:
            return self._resolved[name]
        role = self._cluster[name]
        aggregation = role.get("aggregationRule")
        if not aggregation:
            rules = list(role.get("rules") or [])
        else:
            # Resolve here rather than trusting the controller-manager filled `rules` in (it may lag,
            # or not run at all); recursion covers aggregates of aggregates, `visiting` breaks cycles.
            visiting = visiting | {name}
            rules = []
            selectors = aggregation.get("clusterRoleSelectors") or []
            for other, obj in self._cluster.items():
                if other in visiting:
                    continue
                labels = (obj.get("metadata") or {}).get("labels") or {}
                if any(selector_matches(s, labels) for s in selectors):
                    rules += [r for r in self._cluster_rules(str(other), visiting) if r not in rules]
        self._resolved[name] = rules
        return rules


# -- subjects ----------------------------------------------------------------------------------------


def service_account_user(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


def parse_service_account_user(user: str) -> tuple[str, str] | None:
    parts = user.split(":")
    if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"] and parts[2] and parts[3]:
        return parts[2], parts[3]
    return None


def subject_text(subject: dict) -> str:
    kind, name = subject.get("kind", "?"), subject.get("name", "?")
    if kind == "ServiceAccount":
        return f"ServiceAccount {subject.get('namespace') or '?'}/{name}"
    return f"{kind} {name}"


def subject_namespace(subject: dict) -> str | None:
    """The namespace a subject belongs to: a ServiceAccount's, or N of group system:serviceaccounts:N."""
    if subject.get("kind") == "ServiceAccount":
        return subject.get("namespace")
    name = subject.get("name") or ""
    if subject.get("kind") == "Group" and name.startswith("system:serviceaccounts:"):
        return name.split(":", 2)[2]
    return None


def subject_includes(subject: dict, namespace: str, service_account: str) -> bool:
    """Whether a binding subject covers that ServiceAccount (directly or through its groups)."""
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "ServiceAccount":
        return name == service_account and subject.get("namespace") == namespace
    if kind == "User":
        return name == service_account_user(namespace, service_account)
    if kind == "Group":
        return name in ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated")
    return False


# What Kubernetes grants every authenticated user by default, so it proves nothing about the
# account: the self-reviews (system:basic-user; SelfSubjectReview since 1.28) and reading
# ClusterTrustBundles (system:cluster-trust-bundle-discovery, 1.33+).
ALWAYS_ALLOWED = {"selfsubjectaccessreviews", "selfsubjectrulesreviews", "selfsubjectreviews", "clustertrustbundles"}


def granted_rules(rules_review_status: dict) -> list[dict]:
    """The resource rules of a SelfSubjectRulesReview status that an account was actually granted
    (without what every authenticated user may do)."""
    return [r for r in rules_review_status.get("resourceRules") or []
            if not set(r.get("resources") or []) <= ALWAYS_ALLOWED]
