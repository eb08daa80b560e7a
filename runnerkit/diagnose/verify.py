"""`runnerkit verify`: prove with SubjectAccessReviews that every ServiceAccount of a spec can do
exactly what the spec declares: each declared grant is effective, a matrix of undeclared operations is
denied, and no binding the spec does not render names the account.

Planning and judging are pure; verify_scope decides where to probe and which questions share an
answer, verify_ask is the one edge (SubjectAccessReviews on a bounded pool).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable

from ..model import presets
from ..model.rbac import (MATRIX_VERBS, RBAC_GROUP, Access, RoleIndex, expand, parse_access, rules_allow,
                          service_account_user, subject_includes)
from ..desired import render
from ..model.spec import Grant, Project, Runner, Spec
from .verify_scope import Scope, build as build_scope

MATRIX_RESOURCES = (("secrets", ""), ("configmaps", ""), ("pods", ""), ("pods/exec", ""), ("pods/log", ""),
                    ("serviceaccounts", ""), ("serviceaccounts/token", ""), ("services", ""),
                    ("deployments", "apps"), ("jobs", "batch"), ("roles", RBAC_GROUP),
                    ("rolebindings", RBAC_GROUP))
Probes = tuple[tuple[str, tuple[str, ...]], ...]  # (label, access texts)
OTHER_NAMESPACE_PROBES: Probes = (
    ("secrets in other namespaces", ("get secrets", "list secrets")),
    ("reads in other namespaces", ("list configmaps", "list pods")),
    ("workloads in other namespaces", ("create pods", "create deployments.apps")),
    ("exec", ("create pods/exec",)),
    ("token creation", ("create serviceaccounts/token",)),
    ("RBAC writes", ("create rolebindings",)),
)
CLUSTER_PROBES: Probes = (
    ("secrets in other namespaces", ("list secrets",)),
    ("cluster-scoped writes", ("create namespaces", "delete namespaces", "create persistentvolumes",
                               "update nodes", "create customresourcedefinitions.apiextensions.k8s.io",
                               "create validatingwebhookconfigurations",
                               "create mutatingwebhookconfigurations")),
    ("RBAC writes", ("create clusterroles", "create clusterrolebindings", "escalate clusterroles",
                     "bind clusterroles")),
    ("impersonation", ("impersonate users", "impersonate groups", "impersonate serviceaccounts")),
    ("nodes/proxy", ("get nodes/proxy", "create nodes/proxy")),
)
OWN_NAMESPACE_PROBES: Probes = (("RBAC writes", ("escalate roles", "bind roles")),)


@dataclass(frozen=True)
class Question:
    user: str
    access: Access
    namespace: str | None
    expected: bool  # declared, so it must be allowed
    kind: str  # grant | matrix | probe
    label: str  # the grant's name or the probe's category

    key: tuple = field(init=False, repr=False, compare=False)  # (user, access, namespace)

    def __post_init__(self) -> None:
        # a dict key hundreds of thousands of times at fleet scale: built once
        object.__setattr__(self, "key", (self.user, self.access, self.namespace))

    def where(self) -> str:
        return f"in {self.namespace}" if self.namespace else "cluster-wide"


@dataclass
class AccountPlan:
    title: str
    user: str
    questions: list[Question] = field(default_factory=list)
    matrix: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # namespace -> (resource, group)
    problems: list[str] = field(default_factory=list)
    full: bool = True  # project accounts: everything undeclared is probed too
    probed: list[str] = field(default_factory=list)  # namespaces deny-probed besides its own


class Declared:
    """What the spec grants one account, by namespace (None: cluster-wide, i.e. everywhere)."""

    def __init__(self) -> None:
        self.rules: dict[str | None, list[dict]] = {}
        self._fingerprints: dict[str | None, str] = {}

    def add(self, namespace: str | None, rules: Iterable[dict]) -> None:
        self.rules.setdefault(namespace, []).extend(rules)
        self._fingerprints.clear()

    def covers(self, access: Access, namespace: str | None) -> bool:
        # Every namespace without declared rules answers alike, and accounts with the same rules (the
        # same preset) answer alike: at fleet scale each (rules, request) is evaluated once.
        where = namespace if namespace in self.rules and not access.cluster_scoped else None
        if where not in self._fingerprints:
            self._fingerprints[where] = json.dumps([self.rules.get(None, []), self.rules.get(where, [])
                                                    if where else []], sort_keys=True)
        key = (self._fingerprints[where], access)
        if key not in _COVERED:
            rules = list(self.rules.get(None, []))
            if where is not None:
                rules += self.rules[where]
            _COVERED[key] = rules_allow(rules, access) is not None
        return _COVERED[key]


_COVERED: dict[tuple, bool] = {}  # (rules fingerprint, request) -> allowed; emptied by each plan()


def _concrete(access: Access) -> Access | None:
    """A request that stands for a wildcard rule entry (SARs name one verb and resource)."""
    if access.resource == "*" or "*/" in access.resource:
        return None
    return Access("get" if access.verb == "*" else access.verb, access.resource,
                  "" if access.group == "*" else access.group, access.name)


def representative(rules: list[dict], cluster_wide: bool, limit: int = 3) -> list[Access]:
    """A few requests an existing ClusterRole allows (one per rule), to prove a binding to it works;
    cluster-scoped ones only when it is bound cluster-wide (a RoleBinding cannot grant them)."""
    out: list[Access] = []
    for rule in rules:
        if rule.get("resourceNames") or not rule.get("resources"):
            continue
        for a in expand(rule):
            c = _concrete(a)
            if c and c not in out and (cluster_wide or not c.cluster_scoped):
                out.append(c)
                break
        if len(out) >= limit:
            break
    return out


def _grant_accesses(grant: Grant, index: RoleIndex | None, problems: list[str]) -> tuple[list[dict], list[Access]]:
    if grant.cluster_role:
        rules = index.rules("ClusterRole", grant.cluster_role) if index else None
        if rules is None:
            problems.append(f"grant {grant.name}: ClusterRole {grant.cluster_role} does not exist in the cluster")
            return [], []
        return rules, representative(rules, grant.cluster_wide)
    accesses = [c for rule in grant.rules for a in expand(rule) if (c := _concrete(a))]
    return list(grant.rules), list(dict.fromkeys(accesses))


def plan_project(spec: Spec, project: Project, index: RoleIndex | None, scope: Scope | None = None) -> AccountPlan:
    user = service_account_user(project.namespace, project.service_account)
    acct = AccountPlan(f"project {project.name}: ServiceAccount {project.namespace}/{project.service_account}", user)
    declared = Declared()
    proofs: list[tuple[str, Access, str | None]] = []
    extra: dict[str, list[tuple[str, str]]] = {}  # namespace -> resources of explicit rules, for the matrix
    for grant in project.grants:
        rules, accesses = _grant_accesses(grant, index, acct.problems)
        scopes: list[str | None] = [None] if grant.cluster_wide else list(grant.namespaces)
        for ns in scopes:
            declared.add(ns, rules)
            proofs += [(grant.name, a, None if a.cluster_scoped else ns) for a in accesses]
            if ns and not grant.cluster_role:
                extra.setdefault(ns, []).extend((a.resource, a.group) for r in rules for a in expand(r)
                                                if "*" not in a.resource and not a.cluster_scoped)
    for label, access, ns in proofs:
        acct.questions.append(Question(user, access, ns, True, "grant", label))
    own = [project.namespace] + [ns for ns in declared.rules if ns and ns != project.namespace]
    for ns in own:
        resources = list(dict.fromkeys(list(MATRIX_RESOURCES) + extra.get(ns, [])))
        acct.matrix[ns] = resources
        for resource, group in resources:
            for verb in MATRIX_VERBS:
                a = Access(verb, resource, group)
                acct.questions.append(Question(user, a, ns, declared.covers(a, ns), "matrix", "matrix"))
        for label, texts in OWN_NAMESPACE_PROBES:
            acct.questions += _probes(user, texts, ns, declared, label)
    acct.probed = (scope or _sampled(spec)).others(user, set(own))
    for ns in acct.probed:
        for label, texts in OTHER_NAMESPACE_PROBES:
            acct.questions += _probes(user, texts, ns, declared, label)
    for label, texts in CLUSTER_PROBES:
        acct.questions += _probes(user, texts, None, declared, label)
    acct.questions = _unique(acct.questions)
    return acct


def plan_runner(spec: Spec, runner: Runner, scope: Scope | None = None) -> AccountPlan | None:
    """A GitLab runner manager: the rights runnerkit renders for it in each project namespace are
    proven, and cluster-wide operations probed (its own namespace belongs to its Helm chart)."""
    projects = [p for p in spec.projects if p.runner.name == runner.name]
    if runner.type != "gitlab" or not projects:
        return None
    user = service_account_user(runner.namespace, runner.service_account)
    acct = AccountPlan(f"runner {runner.name} (manager): ServiceAccount {runner.namespace}/{runner.service_account}",
                       user, full=False)
    declared = Declared()
    accesses = [a for rule in presets.GITLAB_MANAGER_RULES for a in expand(rule)]
    for p in projects:
        declared.add(p.namespace, presets.GITLAB_MANAGER_RULES)
        acct.questions += [Question(user, a, p.namespace, True, "grant", "runner manager rules") for a in accesses]
    acct.probed = (scope or _sampled(spec)).others(user, {runner.namespace, *(ns for ns in declared.rules if ns)})
    for ns in acct.probed:
        acct.questions += _probes(user, OTHER_NAMESPACE_PROBES[0][1], ns, declared, OTHER_NAMESPACE_PROBES[0][0])
    for label, texts in CLUSTER_PROBES:
        acct.questions += _probes(user, texts, None, declared, label)
    acct.questions = _unique(acct.questions)
    return acct


def _unique(questions: list[Question]) -> list[Question]:
    """Every grant keeps its own proofs; a matrix cell or probe that repeats a request asked already goes."""
    asked: set[tuple] = set()
    proofs: set[tuple] = set()
    out = []
    for q in questions:
        if q.kind == "grant":
            if (q.key, q.label) in proofs:
                continue
            proofs.add((q.key, q.label))
        elif q.key in asked:
            continue
        asked.add(q.key)
        out.append(q)
    return out


@lru_cache(maxsize=None)
def _probe_access(text: str) -> Access:
    return parse_access(text, "probe")


def _probes(user: str, texts: Iterable[str], namespace: str | None, declared: Declared, label: str) -> list[Question]:
    out = []
    for text in texts:
        a = _probe_access(text)
        ns = None if a.cluster_scoped else namespace
        out.append(Question(user, a, ns, declared.covers(a, ns), "probe", label))
    return out


def _sampled(spec: Spec) -> Scope:
    """Without binding lists: the fixed sentinels and a bounded sample of the spec's namespaces."""
    return build_scope(None, None, None, [p.namespace for p in spec.projects])


def plan(spec: Spec, index: RoleIndex | None, projects: list[str] | None = None,
         scope: Scope | None = None) -> list[AccountPlan]:
    scope = scope or _sampled(spec)
    _COVERED.clear()
    chosen = [spec.project(n) for n in projects] if projects else list(spec.projects)
    plans = [plan_project(spec, p, index, scope) for p in chosen]
    for runner in spec.runners.values():
        if any(p.runner.name == runner.name for p in chosen):
            r = plan_runner(spec, runner, scope)
            if r:
                plans.append(r)
    return plans


# -- bindings the spec does not declare --------------------------------------------------------------


def undeclared_bindings(spec: Spec, plans: list[AccountPlan], bindings: list[dict]) -> dict[str, list[str]]:
    """user -> bindings that name that ServiceAccount directly but are not rendered from the spec."""
    rendered = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in render(spec)
                if o["kind"] in ("RoleBinding", "ClusterRoleBinding")}
    out: dict[str, list[str]] = {}
    accounts = {p.user: tuple(p.user.split(":")[2:]) for p in plans}
    full = {p.user: p.full for p in plans}
    for b in bindings:
        meta = b.get("metadata") or {}
        kind = b.get("kind") or ("RoleBinding" if meta.get("namespace") else "ClusterRoleBinding")
        if (kind, meta.get("namespace"), meta.get("name")) in rendered:
            continue
        for user, (ns, sa) in accounts.items():
            if not full[user] and kind == "RoleBinding" and meta.get("namespace") == ns:
                continue  # a runner's own namespace is its Helm chart's business
            direct = [s for s in b.get("subjects") or [] if s.get("kind") in ("ServiceAccount", "User")]
            if any(subject_includes(s, ns, sa) for s in direct):
                ref = b.get("roleRef") or {}
                where = f"{kind}/{meta.get('name')}" + (f" -n {meta['namespace']}" if meta.get("namespace") else "")
                out.setdefault(user, []).append(f"{where} (-> {ref.get('kind')}/{ref.get('name')})")
    return out


# -- asking and judging --------------------------------------------------------------------------------


@dataclass
class VerifyOutcome:
    plan: AccountPlan
    answers: dict[tuple, tuple[bool, str]]
    extra_bindings: list[str]
    _drift: list[Question] | None = field(default=None, init=False, repr=False, compare=False)

    def drift(self) -> list[Question]:
        if self._drift is None:
            seen: set[tuple] = set()
            self._drift = []
            for q in self.plan.questions:
                if self.answers[q.key][0] != q.expected and q.key not in seen:
                    seen.add(q.key)
                    self._drift.append(q)
        return self._drift

    @property
    def ok(self) -> bool:
        return not self.drift() and not self.extra_bindings and not self.plan.problems
