"""Explain a CI job's OIDC ID token against a spec: which issuer, whether the API server would accept
it, the username and groups it maps to, and which projects' grants those groups receive.

Evaluated locally with the reference mapping (model/mapping.py), which the tests hold equal to the CEL
in the generated AuthenticationConfiguration. Pure: the token is decoded, never verified or printed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..model.mapping import describe, map_claims, matches, rejections
from ..model.oidc_credential import audiences
from ..model.spec import Spec

# Claims worth showing; everything a binding can depend on, nothing personal (actor, email).
SHOWN = ("iss", "aud", "sub", "repository", "repository_owner", "ref", "ref_type", "event_name",
         "environment", "job_workflow_ref", "project_path", "namespace_path", "ref_protected",
         "environment_protected")


@dataclass
class Explanation:
    claims: dict
    issuer: str | None = None
    problems: list[str] = field(default_factory=list)
    username: str | None = None
    groups: list[str] = field(default_factory=list)
    grants: list[dict] = field(default_factory=list)  # {project, namespace, identity, group, grants}

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.grants)

    def to_dict(self) -> dict:
        return {"claims": self.claims, "issuer": self.issuer, "accepted": not self.problems,
                "problems": self.problems, "username": self.username, "groups": self.groups,
                "grants": self.grants}


def explain(spec: Spec, claims: dict, now: float) -> Explanation:
    out = Explanation({k: claims[k] for k in SHOWN if k in claims})
    issuer = next((i for i in spec.issuers.values() if i.url == claims.get("iss")), None)
    if issuer is None:
        known = ", ".join(i.url for i in spec.issuers.values()) or "none"
        out.problems.append(f"issuer {claims.get('iss')!r} is not declared in {spec.path} (issuers: {known})")
        return out
    out.issuer = issuer.name
    if issuer.audience not in audiences(claims):
        out.problems.append(f"audience {', '.join(audiences(claims)) or 'none'} is not the issuer's "
                            f"{issuer.audience!r}: request the token with that audience")
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or exp <= now:
        out.problems.append("the token has expired" if isinstance(exp, (int, float)) else "no exp claim")
    out.problems += rejections(issuer, claims)
    if any(p.startswith("missing claims") for p in out.problems):
        return out
    out.username, out.groups = map_claims(issuer, claims)
    for project in spec.projects:
        for identity in project.identities:
            if identity.issuer != issuer:
                continue
            matched = matches(identity, out.username, out.groups)
            if matched:
                out.grants.append({"project": project.name, "namespace": project.namespace,
                                   "identity": describe(identity),
                                   ("user" if issuer.flags else "group"): matched,
                                   "grants": [g.name for g in project.grants]})
    return out


def text_report(e: Explanation) -> list[str]:
    lines = ["Token claims (decoded locally; the token itself is never shown)"]
    lines += [f"  {k}: {v}" for k, v in e.claims.items()]
    lines.append("API server")
    if e.problems:
        lines += [f"  x {p}" for p in e.problems]
    else:
        lines.append(f"  ok accepted by issuer {e.issuer}")
    if e.username:
        lines += ["Maps to", f"  username: {e.username}"]
        lines += ["  groups:"] + [f"    - {g}" for g in e.groups] if e.groups else ["  groups: none"]
    lines.append("Grants")
    if e.grants:
        for g in e.grants:
            lines.append(f"  ok project {g['project']} (namespace {g['namespace']}): {', '.join(g['grants']) or 'no grants'}"
                         f" through {'user' if 'user' in g else 'group'} {g.get('user') or g['group']}")
            lines.append(f"      identity: {g['identity']}")
    else:
        lines.append("  x no project's identities match this token: it would get 403 everywhere; compare "
                     "the groups above with the identities in the spec")
    return lines
