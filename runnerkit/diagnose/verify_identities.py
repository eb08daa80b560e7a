"""`runnerkit verify` for CI identities: prove with SubjectAccessReviews (user and groups, as the API
server maps them from a token) that a job each identity admits gets the project's grants, and that a
job of another repository/project, another ref, another environment, a pull request or an
unprotected ref gets nothing — in the project's namespaces or anyone else's.

Tokens are not needed: the questions use the username and groups model/mapping.py (the reference the CEL
is tested against) gives for representative claims. Planning is pure; `ask` is the one edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..cluster.protocol import Client
from ..model.identities import GithubIdentity, GitlabIdentity, Identity
from ..model.mapping import default_sub, describe, map_claims, matches
from ..model.rbac import Access, expand
from ..model.spec import Project, Spec
from .verify import Declared, _concrete

OTHER = "runnerkit-verify-other"


@dataclass(frozen=True)
class Case:
    label: str  # "declared job", "another ref", ...
    username: str
    groups: tuple[str, ...]


@dataclass
class IdentityCheck:
    project: str
    identity: str
    cases: list[Case] = field(default_factory=list)
    # (case label, access, namespace, expected)
    questions: list[tuple[Case, Access, str, bool]] = field(default_factory=list)
    answers: dict[tuple, bool] = field(default_factory=dict)

    def drift(self) -> list[tuple[Case, Access, str, bool]]:
        return [q for q in self.questions if self.answers.get(_key(q)) != q[3]]


def _key(q: tuple) -> tuple:
    case, access, ns, _ = q
    return case.username, case.groups, access, ns


def _github_claims(i: GithubIdentity, **change: str | None) -> dict:
    ref = i.refs[0] if i.refs else "refs/heads/main"
    claims: dict[str, str | None] = {"iss": i.issuer.url, "repository": i.repository, "repository_owner": i.repository.split("/")[0],
              "ref": ref, "event_name": "push",
              "job_workflow_ref": i.workflow or f"{i.repository}/.github/workflows/deploy.yml@{ref}"}
    if i.pull_request and i.issuer.flags:  # the identity admits pull requests only
        claims.update(event_name="pull_request", ref="refs/pull/1/merge")
    if i.environments:
        claims["environment"] = i.environments[0]
    return _with_sub(i, claims, change)


def _with_sub(i: Identity, claims: dict, change: dict) -> dict:
    claims.update(change)
    out = {k: v for k, v in claims.items() if v is not None}
    return {**out, "sub": default_sub(i.issuer, out)}


def _gitlab_claims(i: GitlabIdentity, **change: str | None) -> dict:
    claims: dict[str, str | None] = {"iss": i.issuer.url, "project_path": i.project_path,
              "namespace_path": i.project_path.rsplit("/", 1)[0], "ref": i.refs[0] if i.refs else "main",
              "ref_type": i.ref_type or "branch", "ref_protected": "true"}
    if i.environments:
        claims["environment"] = i.environments[0]
    return _with_sub(i, claims, change)


def cases(identity: Identity) -> list[Case]:
    """The declared job first, then jobs that differ in one fact and must get nothing."""
    variants: list[tuple[str, dict]] = []
    if isinstance(identity, GithubIdentity):
        owner = identity.repository.split("/")[0]
        variants.append(("declared job", _github_claims(identity)))
        variants.append(("another repository", _github_claims(identity, repository=f"{owner}/{OTHER}")))
        if identity.refs:
            variants.append(("another ref", _github_claims(identity, ref=f"refs/heads/{OTHER}")))
        if identity.environments:
            variants.append(("another environment", _github_claims(identity, environment=OTHER)))
            variants.append(("no environment", _github_claims(identity, environment=None)))
        if identity.workflow:
            variants.append(("another workflow", _github_claims(
                identity, job_workflow_ref=f"{identity.repository}/.github/workflows/{OTHER}.yml@refs/heads/main")))
        if not identity.pull_request:
            variants.append(("a pull request", _github_claims(identity, event_name="pull_request",
                                                              ref="refs/pull/1/merge")))
    else:
        group = identity.project_path.rsplit("/", 1)[0]
        variants.append(("declared job", _gitlab_claims(identity)))
        variants.append(("another project", _gitlab_claims(identity, project_path=f"{group}/{OTHER}")))
        if identity.refs:
            variants.append(("another ref", _gitlab_claims(identity, ref=OTHER)))
        if identity.ref_type:
            variants.append(("another ref type", _gitlab_claims(
                identity, ref_type="tag" if identity.ref_type == "branch" else "branch")))
        if identity.environments:
            variants.append(("another environment", _gitlab_claims(identity, environment=OTHER)))
        if identity.protected:
            variants.append(("an unprotected ref", _gitlab_claims(identity, ref_protected="false")))
    out = []
    for label, claims in variants:
        user, groups = map_claims(identity.issuer, claims)
        out.append(Case(label, user, tuple(groups)))
    return out


def _declared_for(spec: Spec, case: Case) -> Declared:
    """What every identity this job's username and groups match is granted, across the spec."""
    declared = Declared()
    for project in spec.projects:
        if any(matches(i, case.username, case.groups) for i in project.identities):
            for grant in project.grants:
                for ns in [None] if grant.cluster_wide else grant.namespaces:
                    declared.add(ns, grant.rules)
    return declared


def plan(spec: Spec, projects: list[str] | None = None) -> list[IdentityCheck]:
    chosen = [spec.project(n) for n in projects] if projects else list(spec.projects)
    everyone = sorted({p.namespace for p in spec.projects})
    out = []
    for project in chosen:
        accesses = _project_accesses(project)
        for identity in project.identities:
            check = IdentityCheck(project.name, describe(identity))
            for case in cases(identity):
                check.cases.append(case)
                declared = _declared_for(spec, case)
                spaces = everyone if case.label == "declared job" else _namespaces(project)
                for ns in spaces:
                    for access in accesses:
                        check.questions.append((case, access, ns, declared.covers(access, ns)))
            out.append(check)
    return out


def _namespaces(project: Project) -> list[str]:
    return list(dict.fromkeys(ns for g in project.grants for ns in g.namespaces)) or [project.namespace]


def _project_accesses(project: Project) -> list[Access]:
    """One request per rule of the project's own grants (ClusterRole grants: not expanded here)."""
    out: list[Access] = []
    for grant in project.grants:
        for rule in grant.rules:
            for a in expand(rule):
                c = _concrete(a)
                if c and not c.cluster_scoped and c not in out:
                    out.append(c)
                    break
    return out


def ask(client: Client, checks: list[IdentityCheck]) -> None:
    keys = list(dict.fromkeys(_key(q) for c in checks for q in c.questions))

    def one(key: tuple) -> bool:
        user, groups, access, ns = key
        return client.review(user, access.verb, access.resource, ns, access.group, access.name,
                             groups=list(groups) + ["system:authenticated"])[0]

    answers = dict(zip(keys, client.parallel(one, keys)))
    for check in checks:
        check.answers = {_key(q): answers[_key(q)] for q in check.questions}


def text(checks: list[IdentityCheck]) -> str:
    lines = ["CI identities (SubjectAccessReviews as the API server maps their tokens)"] if checks else []
    for check in checks:
        drift = check.drift()
        lines.append(f"  {'ok' if not drift else 'x'} project {check.project}: {check.identity}")
        by_case: dict[str, list] = {}
        for q in check.questions:
            by_case.setdefault(q[0].label, []).append(q)
        for label, qs in by_case.items():
            allowed = sum(check.answers.get(_key(q)) is True for q in qs)
            lines.append(f"      {label}: {allowed} of {len(qs)} requests allowed, "
                         f"{sum(q[3] for q in qs)} declared")
        for case, access, ns, expected in drift:
            lines.append(f"      x {case.label}: {access.verb} {access.resource} in {ns} is "
                         f"{'denied' if expected else 'ALLOWED'} but the spec says "
                         f"{'allowed' if expected else 'denied'} (user {case.username})")
    return "\n".join(lines) + ("\n" if lines else "")


def to_json(checks: list[IdentityCheck]) -> list[dict]:
    return [{"project": c.project, "identity": c.identity, "ok": not c.drift(),
             "cases": [{"case": case.label, "username": case.username, "groups": list(case.groups)}
                       for case in c.cases],
             "drift": [{"case": q[0].label, "verb": q[1].verb, "resource": q[1].resource, "namespace": q[2],
                        "expected": q[3]} for q in c.drift()]} for c in checks]
