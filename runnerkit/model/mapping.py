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

An issuer with `authentication: oidc-flags` (the single-issuer --oidc-* flags, EKS) maps a token to
the user PREFIX + sub and no groups; its identities are bound as those users (flag_usernames).
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


def flag_usernames(identity: Identity) -> list[str]:
    """oidc-flags: the users (PREFIX + the provider's default sub) a binding for this identity names."""
    prefix = identity.issuer.prefix
    if isinstance(identity, GithubIdentity):
        if identity.environments:  # validation required pullRequest: true: it admits them too
            return [f"{prefix}repo:{identity.repository}:environment:{e}" for e in identity.environments]
        if identity.pull_request:
            return [f"{prefix}repo:{identity.repository}:pull_request"]
        return [f"{prefix}repo:{identity.repository}:ref:{r}" for r in identity.refs]
    return [f"{prefix}project_path:{identity.project_path}:ref_type:{identity.ref_type}:ref:{r}"
            for r in identity.refs]


def identity_names(identity: Identity) -> list[str]:
    """The user (oidc-flags) or group (structured) names a binding for this identity lists."""
    return flag_usernames(identity) if identity.issuer.flags else identity_groups(identity)


def matches(identity: Identity, username: str, groups: list[str] | tuple[str, ...]) -> str | None:
    """The name through which a token mapped to (username, groups) gets this identity's grants."""
    have = {username} if identity.issuer.flags else set(groups)
    return next((n for n in identity_names(identity) if n in have), None)


def subjects(identities: tuple[Identity, ...]) -> list[dict]:
    out: list[dict] = []
    for identity in identities:
        kind = "User" if identity.issuer.flags else "Group"
        for name in identity_names(identity):
            subject = {"kind": kind, "apiGroup": RBAC_GROUP, "name": name}
            if subject not in out:
                out.append(subject)
    return out


def default_sub(issuer: Issuer, claims: dict) -> str:
    """The sub the provider issues when nobody customized it (what the --oidc-* flags map)."""
    if issuer.type == "github":
        repo = f"repo:{claims['repository']}"
        if claims.get("environment"):
            return f"{repo}:environment:{claims['environment']}"
        if claims.get("event_name") in PULL_REQUEST_EVENTS:
            return f"{repo}:pull_request"
        return f"{repo}:ref:{claims['ref']}"
    return f"project_path:{claims['project_path']}:ref_type:{claims['ref_type']}:ref:{claims['ref']}"


def required_claims(issuer: Issuer) -> dict[str, str]:
    """oidc-flags: the --oidc-required-claim pairs (validation allows exactly one owner or group)."""
    if issuer.type == "github":
        return {"repository_owner": issuer.owners[0]}
    return {"namespace_path": issuer.owners[0], "ref_protected": "true"}


def map_claims(issuer: Issuer, claims: dict) -> tuple[str, list[str]]:
    """The username and groups the API server maps these claims to (same result as the CEL)."""
    if issuer.flags:
        return issuer.prefix + str(claims["sub"]), []
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
        if identity.issuer.flags:
            # oidc-flags map only GitHub's sub, which names the environment whatever the event and
            # the ref only for jobs without an environment.
            parts.append("pull requests deploying there too" if identity.environments else
                         "pull requests only" if identity.pull_request else
                         "jobs without an environment, no pull requests")
        else:
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
    if issuer.flags:
        if not isinstance(claims.get("sub"), str):
            return ["missing claims: sub"]
        return [f"claim {k} is {claims.get(k)!r}, the --oidc-required-claim is {k}={v}"
                for k, v in required_claims(issuer).items() if claims.get(k) != v]
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
