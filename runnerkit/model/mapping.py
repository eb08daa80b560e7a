"""CI identity mapping: token claims -> Kubernetes username and groups, identity -> RBAC group subjects.

RBAC matches users and groups by exact name, with no wildcards. So the API server (through the CEL
in authconfig.py) gives every token one group per combination of the facts a binding may require,
and a binding names the one combination an identity declares. The facts, in this fixed order:

  GitHub:  PREFIX:repo:OWNER/REPO[:ref:REF][:environment:ENV][:workflow:JOB_WORKFLOW_REF][:pull_request]
  GitLab:  PREFIX:project_path:GROUP/PROJECT[:ref_type:TYPE[:ref:REF]][:environment:ENV]:protected|:unprotected

The trust marker at the end is never optional: a pull request token only ever gets groups ending
in `:pull_request`, an unprotected GitLab ref only groups ending in `:unprotected`, so a binding
written for main can never match them. The username is the most specific group (every fact), for
audit logs. No value may contain ':' (claim validation rejects such tokens), so the encoding is
unambiguous; the distinct PREFIX per issuer keeps issuers apart.

This module is the reference the CEL is tested against (tests evaluate both on the same claims).
"""

from __future__ import annotations

from itertools import product

from .identities import GithubIdentity, GitlabIdentity, Identity, Issuer

PULL_REQUEST_EVENTS = ("pull_request", "pull_request_target")
RBAC_GROUP = "rbac.authorization.k8s.io"


def identity_groups(identity: Identity) -> list[str]:
    """The group names a binding for this identity names: one per allowed combination of facts."""
    if isinstance(identity, GithubIdentity):
        base = f"{identity.issuer.prefix}repo:{identity.repository}"
        refs = [f":ref:{r}" for r in identity.refs] or [""]
        envs = [f":environment:{e}" for e in identity.environments] or [""]
        workflow = f":workflow:{identity.workflow}" if identity.workflow else ""
        trust = [""] + ([":pull_request"] if identity.pull_request else [])
        return [base + r + e + workflow + t for r, e, t in product(refs, envs, trust)]
    base = f"{identity.issuer.prefix}project_path:{identity.project_path}"
    if identity.refs:
        refs = [f":ref_type:{identity.ref_type}:ref:{r}" for r in identity.refs]
    else:
        refs = [f":ref_type:{identity.ref_type}" if identity.ref_type else ""]
    envs = [f":environment:{e}" for e in identity.environments] or [""]
    trust = [":protected"] + ([] if identity.protected else [":unprotected"])
    return [base + r + e + t for r, e, t in product(refs, envs, trust)]


def subjects(identities: tuple[Identity, ...]) -> list[dict]:
    out: list[dict] = []
    for identity in identities:
        for group in identity_groups(identity):
            subject = {"kind": "Group", "apiGroup": RBAC_GROUP, "name": group}
            if subject not in out:
                out.append(subject)
    return out


def map_claims(issuer: Issuer, claims: dict) -> tuple[str, list[str]]:
    """The username and groups the API server maps these claims to (same result as the CEL)."""
    if issuer.type == "github":
        return _github(issuer, claims)
    return _gitlab(issuer, claims)


def _github(issuer: Issuer, c: dict) -> tuple[str, list[str]]:
    base = f"{issuer.prefix}repo:{c['repository']}"
    pr = c["event_name"] in PULL_REQUEST_EVENTS or str(c.get("sub", "")).endswith(":pull_request")
    trust = ":pull_request" if pr else ""
    ref, wf = f":ref:{c['ref']}", f":workflow:{c['job_workflow_ref']}"
    envs = [""] + ([f":environment:{c['environment']}"] if c.get("environment") else [])
    groups = [base + r + e + w + trust for e in envs for w in ("", wf) for r in ("", ref)]
    return groups[-1], groups


def _gitlab(issuer: Issuer, c: dict) -> tuple[str, list[str]]:
    base = f"{issuer.prefix}project_path:{c['project_path']}"
    trust = ":protected" if c["ref_protected"] == "true" else ":unprotected"
    kind = f":ref_type:{c['ref_type']}"
    envs = [""] + ([f":environment:{c['environment']}"] if c.get("environment") else [])
    groups = [base + r + e + trust for e in envs for r in ("", kind, f"{kind}:ref:{c['ref']}")]
    return groups[-1], groups


def describe(identity: Identity) -> str:
    """One line for reports: which jobs this identity admits."""
    if isinstance(identity, GithubIdentity):
        parts = [f"{identity.issuer.name} {identity.repository}"]
        parts.append("refs " + ", ".join(identity.refs) if identity.refs else "any ref")
        if identity.environments:
            parts.append("environments " + ", ".join(identity.environments))
        if identity.workflow:
            parts.append(f"workflow {identity.workflow}")
        parts.append("pull requests too" if identity.pull_request else "no pull requests")
        return "; ".join(parts)
    assert isinstance(identity, GitlabIdentity)
    parts = [f"{identity.issuer.name} {identity.project_path}"]
    if identity.refs:
        parts.append(f"{identity.ref_type}es " if identity.ref_type == "branch" else "tags ")
        parts[-1] += ", ".join(identity.refs)
    else:
        parts.append(f"any {identity.ref_type}" if identity.ref_type else "any ref")
    if identity.environments:
        parts.append("environments " + ", ".join(identity.environments))
    parts.append("protected refs only" if identity.protected else "protected or not")
    return "; ".join(parts)


def rejections(issuer: Issuer, claims: dict) -> list[str]:
    """Why the API server's claim rules would refuse these claims (same rules as the CEL); [] if none."""
    required: tuple[str, ...]
    if issuer.type == "github":
        required = ("sub", "repository", "repository_owner", "ref", "event_name", "job_workflow_ref")
    else:
        required = ("project_path", "namespace_path", "ref", "ref_type", "ref_protected")
    missing = [c for c in required if not isinstance(claims.get(c), str)]
    if missing:
        return [f"missing claims: {', '.join(missing)} (not a {issuer.type} CI ID token?)"]
    out: list[str] = []
    mapped: tuple[str, ...]
    if issuer.type == "github":
        owner, repo = claims["repository_owner"], claims["repository"]
        if owner not in issuer.owners:
            out.append(f"repository owner {owner!r} is not in issuers[{issuer.name}].owners "
                       f"({', '.join(issuer.owners)})")
        if not repo.startswith(owner + "/"):
            out.append(f"repository {repo!r} does not belong to repository_owner {owner!r}")
        mapped = ("repository", "ref", "job_workflow_ref", "environment")
    else:
        group, project = claims["namespace_path"], claims["project_path"]
        if not any(group == g or group.startswith(g + "/") for g in issuer.owners):
            out.append(f"group {group!r} is not in issuers[{issuer.name}].groups ({', '.join(issuer.owners)})")
        if not project.startswith(group + "/"):
            out.append(f"project_path {project!r} is not inside namespace_path {group!r}")
        if claims["ref_type"] not in ("branch", "tag") or claims["ref_protected"] not in ("true", "false"):
            out.append("ref_type must be branch or tag and ref_protected 'true' or 'false'")
        mapped = ("project_path", "ref", "environment")
    if any(":" in str(claims.get(c, "")) for c in mapped):
        out.append("a mapped claim contains ':', the separator of runnerkit names")
    return out
