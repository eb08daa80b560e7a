"""Where `runnerkit verify` probes, and which of its questions the RBAC authorizer cannot tell apart.
Pure: works on RoleBindings, ClusterRoleBindings and Roles already listed.

With RBAC a ServiceAccount gains rights in a namespace only through a RoleBinding there or a
ClusterRoleBinding, naming it (as ServiceAccount or User) or one of its groups. So an account is
probed in its own namespaces, in every namespace where a RoleBinding names it or its groups, and in
fixed sentinels; every other namespace answers like the sentinel that does not exist (docs/verify.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..model.rbac import Access

SENTINEL_NAMESPACE = "runnerkit-verify-no-such-namespace"
FIXED_NAMESPACES = ("kube-system", "default", SENTINEL_NAMESPACE)
FALLBACK_SAMPLE = 16  # other project namespaces probed when the bindings cannot be listed

Ref = tuple  # what a binding grants: ("ClusterRole", name) or ("Role", rules fingerprint)


def account_subjects(user: str) -> tuple[tuple, ...]:
    """Every binding subject that matches a ServiceAccount user: itself, as User, and its groups."""
    _, _, ns, sa = user.split(":", 3)
    return (("ServiceAccount", ns, sa), ("User", user), ("Group", "system:serviceaccounts"),
            ("Group", f"system:serviceaccounts:{ns}"), ("Group", "system:authenticated"))


def _subject_key(subject: dict) -> tuple | None:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "ServiceAccount":
        return kind, subject.get("namespace"), name
    if kind in ("User", "Group"):
        return kind, name
    return None


@dataclass
class Scope:
    """The binding lists, indexed by subject. `complete` is False when they could not be listed:
    then verify falls back to a bounded sample of namespaces and every account asks for itself."""

    complete: bool = False
    reason: str = ""
    sample: tuple[str, ...] = ()
    shared: bool = True  # answers shared between questions RBAC cannot tell apart
    roles_listed: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    _cluster: dict[tuple, set[Ref]] = field(default_factory=dict)  # subject -> refs of ClusterRoleBindings
    _namespaced: dict[tuple, dict[str, set[Ref]]] = field(default_factory=dict)  # subject -> ns -> refs
    _contexts: dict[tuple, frozenset] = field(default_factory=dict)

    def others(self, user: str, own: set[str]) -> list[str]:
        """The namespaces besides its own where an account is deny-probed."""
        found: list[str] = list(FIXED_NAMESPACES)
        if self.complete:
            found += sorted({ns for s in account_subjects(user) for ns in self._namespaced.get(s, {})})
        else:
            found += self.sample
        return [ns for ns in dict.fromkeys(found) if ns not in own]

    def context(self, user: str, namespace: str | None) -> frozenset:
        """Everything RBAC consults for this user in this namespace (None: cluster-scoped requests)."""
        key = (user, namespace)
        if key not in self._contexts:
            refs: set[Ref] = set()
            for s in account_subjects(user):
                refs |= self._cluster.get(s, set())
                if namespace is not None:
                    refs |= self._namespaced.get(s, {}).get(namespace, set())
            self._contexts[key] = frozenset(refs)
        return self._contexts[key]

    def share_key(self, user: str, access: Access, namespace: str | None) -> tuple:
        """Questions with equal keys get the same answer from RBAC: the same bindings apply, and RBAC
        rules never name a namespace. Without the lists (or --no-shared-answers) a question is its own."""
        if not (self.complete and self.shared):
            return user, access, namespace
        return self.context(user, namespace), access, namespace is None


def build(cluster_role_bindings: list[dict] | None, role_bindings: list[dict] | None,
          roles: list[dict] | None, project_namespaces: list[str], reason: str = "") -> Scope:
    if cluster_role_bindings is None or role_bindings is None:
        return Scope(False, reason or "RoleBindings and ClusterRoleBindings were not listed",
                     sample(project_namespaces))
    fingerprints = None
    if roles is not None:
        fingerprints = {((r.get("metadata") or {}).get("namespace"), (r.get("metadata") or {}).get("name")):
                        json.dumps(r.get("rules") or [], sort_keys=True) for r in roles}
    scope = Scope(True, "", (), roles_listed=roles is not None,
                  counts={"clusterRoleBindings": len(cluster_role_bindings), "roleBindings": len(role_bindings),
                          **({"roles": len(roles)} if roles is not None else {})})
    for b in cluster_role_bindings:
        ref = _ref(b, None, fingerprints)
        for key in filter(None, map(_subject_key, b.get("subjects") or [])):
            if ref is not None:
                scope._cluster.setdefault(key, set()).add(ref)
    for b in role_bindings:
        ns = str((b.get("metadata") or {}).get("namespace") or "")
        ref = _ref(b, ns, fingerprints)
        for key in filter(None, map(_subject_key, b.get("subjects") or [])):
            refs = scope._namespaced.setdefault(key, {}).setdefault(ns, set())
            if ref is not None:
                refs.add(ref)
    return scope


def _ref(binding: dict, namespace: str | None, fingerprints: dict | None) -> Ref | None:
    """What a binding grants, so that bindings of equal roles compare equal. A binding of a Role that
    does not exist grants nothing (None); unlisted Roles are told apart by name."""
    ref = binding.get("roleRef") or {}
    if ref.get("kind") == "ClusterRole":
        return "ClusterRole", ref.get("name")
    if fingerprints is None:
        return "Role", namespace, ref.get("name")
    rules = fingerprints.get((namespace, ref.get("name")))
    return None if rules is None else ("Role", rules)


def sample(namespaces: list[str], size: int = FALLBACK_SAMPLE) -> tuple[str, ...]:
    """A bounded, evenly spread, deterministic sample of the spec's namespaces."""
    ordered = sorted(set(namespaces))
    if len(ordered) <= size:
        return tuple(ordered)
    step = len(ordered) / size
    return tuple(ordered[int(i * step)] for i in range(size))

