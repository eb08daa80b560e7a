"""Audit rules about who may authenticate at all: grants to every authenticated identity on a cluster
that accepts OIDC tokens, grants to anonymous requests, and hand-made bindings to CI identity names
(docs/oidc.md). Pure: the CLI learns the issuers (--spec, --oidc-issuer, --authentication-config).

The API server does not say which JWT issuers it trusts, so audit is told. With a CI issuer, every
token it signs for the audience makes its holder a member of `system:authenticated` unless the
issuer's claim rules reject it: on github.com and gitlab.com that is every repository or project
whose job asks for the audience. A binding to `system:authenticated` then grants strangers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..errors import InputError
from ..model.findings import CRITICAL, HIGH, MEDIUM, Check, Finding, make_finding
from ..model.identities import Identity, Issuer
from ..model.mapping import identity_names
from ..model.rbac import READ_VERBS, Access, expand, rule_text, rules_allow

AUTHENTICATED, UNAUTHENTICATED, ANONYMOUS = "system:authenticated", "system:unauthenticated", "system:anonymous"
SHOWN_RULES = 3  # a finding names the first rules beyond the defaults, then counts the rest

# What Kubernetes binds by default (bootstrap policy, reconciled by the API server on start): the
# self-reviews (system:basic-user), API discovery (system:discovery) and health/version
# (system:public-info-viewer). Content, not names: an edited default role is flagged for the rest.
_PUBLIC_INFO = [{"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"], "verbs": ["get"]}]
BASELINE = {
    AUTHENTICATED: [
        {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
         "verbs": ["create"]},
        {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]},
        {"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*",
                             "/readyz", "/version", "/version/"], "verbs": ["get"]},
    ] + _PUBLIC_INFO,
    UNAUTHENTICATED: _PUBLIC_INFO,
}

OIDC_CHECKS = (
    Check("oidc-authenticated", HIGH, "grant to system:authenticated on a cluster that accepts OIDC tokens",
          "every token the API server accepts puts its holder in system:authenticated: with a CI issuer "
          "that is every repository on github.com (or project on gitlab.com) whose job requests the "
          "audience, unless the issuer's claim rules reject it, and even then every branch, pull request "
          "and environment of the allowed owners",
          "bind {role} to the groups of the CI identities that need it (runnerkit.yaml `identities:`, "
          "then `runnerkit apply`) or to named ServiceAccounts, and delete {binding}"),
    Check("anonymous-grant", HIGH, "grant to system:unauthenticated",
          "requests without any credential are system:anonymous in system:unauthenticated: anyone who "
          "can reach the API server gets this",
          "delete {binding}; bind {role} to named users, groups or ServiceAccounts instead"),
    Check("identity-outside-spec", MEDIUM, "binding to a CI identity that the spec does not grant there",
          "the name belongs to an issuer of the spec: jobs that map to it get this grant outside the spec "
          "(runnerkit verify does not prove it, `runnerkit apply --prune` does not remove it)",
          "delete {binding}; declare the identity under the project's `identities:` in runnerkit.yaml "
          "and `runnerkit apply` instead"),
)
CHECKS = {c.id: c for c in OIDC_CHECKS}


@dataclass(frozen=True)
class OidcFacts:
    """What audit knows about the API server's JWT authenticators, and where it learned it."""

    issuers: tuple[str, ...] = ()  # issuer URLs the API server accepts tokens from
    sources: tuple[str, ...] = ()  # "runnerkit.yaml issuers", "--oidc-issuer", "--authentication-config F"
    prefixes: dict[str, Issuer] = field(default_factory=dict)  # "github:" -> issuer, from --spec
    declared: frozenset[str] = frozenset()  # identity user/group names the spec's bindings name

    def merged(self, other: OidcFacts) -> OidcFacts:
        return OidcFacts(tuple(dict.fromkeys(self.issuers + other.issuers)),
                         tuple(dict.fromkeys(self.sources + other.sources)),
                         {**self.prefixes, **other.prefixes}, self.declared | other.declared)


def issuer_urls(doc: object, where: str) -> list[str]:
    """The jwt[].issuer.url of an AuthenticationConfiguration (v1beta1 or v1), or one clear error."""
    if not isinstance(doc, dict) or doc.get("kind") != "AuthenticationConfiguration":
        raise InputError(f"{where}: not an AuthenticationConfiguration (kind: AuthenticationConfiguration); "
                         "pass the file the API server's --authentication-config names")
    jwt = doc.get("jwt") or []
    if not isinstance(jwt, list):
        raise InputError(f"{where}: jwt: must be a list of authenticators")
    urls = []
    for i, entry in enumerate(jwt):
        url = ((entry or {}).get("issuer") or {}).get("url") if isinstance(entry, dict) else None
        if not isinstance(url, str) or not url:
            raise InputError(f"{where}: jwt[{i}].issuer.url: missing; every JWT authenticator names its issuer")
        urls.append(url)
    return urls


def beyond_defaults(rules: list[dict], group: str) -> list[dict]:
    """The rules that grant more than Kubernetes gives `group` by default."""
    baseline = BASELINE[group]
    return [r for r in rules if not _covered(r, baseline)]


def _covered(rule: dict, baseline: list[dict]) -> bool:
    verbs = rule.get("verbs") or []
    for url in rule.get("nonResourceURLs") or []:
        for verb in verbs:
            if not any(verb in (b.get("verbs") or [])
                       and any(_url_matches(p, url) for p in b.get("nonResourceURLs") or []) for b in baseline):
                return False
    if rule.get("resources"):
        # wildcards stay "*" in expand(): only a baseline rule that says "*" itself could cover them (none does)
        return all(rules_allow(baseline, a) is not None for a in expand(rule))
    return True


def _url_matches(pattern: str, url: str) -> bool:
    return pattern == url or (pattern.endswith("*") and url.startswith(pattern[:-1]))


def _severity(extra: list[dict]) -> str:
    """CRITICAL when strangers could change something or read Secrets; HIGH for other reads."""
    writes = any(v not in READ_VERBS for r in extra for v in r.get("verbs") or [])
    secrets = any(rules_allow([r for r in extra if r.get("resources")], Access(v, "secrets"), True) is not None
                  for v in READ_VERBS)
    return CRITICAL if writes or secrets else HIGH


def _grants(extra: list[dict]) -> str:
    shown = "; ".join(rule_text(r) for r in extra[:SHOWN_RULES])
    more = len(extra) - SHOWN_RULES
    return shown + (f"; and {more} more rule{'s' if more != 1 else ''}" if more > 0 else "")


def public_group_findings(subject: dict, who: str, binding: str, role: str, rules: list[dict],
                          where: str | None, scope: str, facts: OidcFacts) -> list[Finding]:
    """A grant beyond the defaults to everyone who authenticates (with an OIDC issuer) or to anyone."""
    name = subject.get("name")
    if subject.get("kind") == "User" and name == ANONYMOUS:
        name = UNAUTHENTICATED  # the user of every request without a credential
    elif subject.get("kind") != "Group" or name not in BASELINE:
        return []
    if name == AUTHENTICATED and not facts.issuers:
        return []  # without an issuer, the existing capability checks cover it
    extra = beyond_defaults(rules, name)
    if not extra:
        return []
    if name == AUTHENTICATED:
        detail = f"{scope}; this cluster accepts tokens from {', '.join(facts.issuers)} ({', '.join(facts.sources)})"
        return [make_finding(CHECKS["oidc-authenticated"], who, binding, role, _grants(extra), where, detail,
                             _severity(extra))]
    return [make_finding(CHECKS["anonymous-grant"], who, binding, role, _grants(extra), where, scope,
                         _severity(extra))]


def identity_findings(subject: dict, who: str, binding: str, role: str, rules: list[dict],
                      where: str | None, managed: bool, facts: OidcFacts) -> list[Finding]:
    """A binding to a user or group under an issuer prefix of the spec that the spec does not render."""
    name = subject.get("name") or ""
    if subject.get("kind") not in ("User", "Group"):
        return []
    issuer = next((i for p, i in facts.prefixes.items() if name.startswith(p)), None)
    if issuer is None or (managed and name in facts.declared):
        return []
    first = rule_text(rules[0]) if rules else ""
    return [make_finding(CHECKS["identity-outside-spec"], who, binding, role, first, where,
                         _why_outside(name, issuer, facts, managed))]


def _why_outside(name: str, issuer: Issuer, facts: OidcFacts, managed: bool) -> str:
    rest = name[len(issuer.prefix):]
    kind, _, path = rest.partition(":")
    path = path.split(":", 1)[0]
    if kind == "repo" and issuer.type == "github" and path.split("/", 1)[0] not in issuer.owners:
        return (f"{path.split('/', 1)[0]} is not in the owners of issuer {issuer.name}: no token maps to it "
                "today, and adding that owner would activate this binding unseen")
    if kind == "project_path" and issuer.type == "gitlab" and not any(
            path == g or path.startswith(g + "/") for g in issuer.owners):
        return (f"{path} is not inside the groups of issuer {issuer.name}: no token maps to it today, and "
                "adding that group would activate this binding unseen")
    if name in facts.declared and not managed:
        return "a project of the spec declares this identity, but this binding was made by hand"
    return "no identity of the spec is bound to exactly this name"


def declared_names(identities: Iterable[Identity]) -> frozenset[str]:
    """Every user (oidc-flags) or group (structured) name the spec's identity bindings name."""
    return frozenset(n for identity in identities for n in identity_names(identity))
