"""Audit rules about who may authenticate at all: grants to every authenticated identity on a cluster
that accepts OIDC tokens, grants to anonymous requests, and hand-made bindings to CI identity names
(docs/oidc.md). Pure: audit_oidc_inputs learns the issuers (--spec, --oidc-issuer, --authentication-config).

The API server does not say which JWT issuers it trusts, so audit is told. With a CI issuer, every
token it signs for the audience makes its holder a member of `system:authenticated` unless the
issuer's claim rules reject it: on github.com and gitlab.com that is every repository or project
whose job asks for the audience. A binding to `system:authenticated` then grants strangers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

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


# (namespace, or None cluster-wide; subject kind; subject name; roleRef kind; roleRef name)
GrantKey = tuple[str | None, str, str, str, str]


@dataclass(frozen=True)
class OidcFacts:
    """What audit knows about the API server's JWT authenticators, and where it learned it."""

    issuers: tuple[str, ...] = ()  # issuer URLs the API server accepts tokens from
    sources: tuple[str, ...] = ()  # "runnerkit.yaml issuers", "--oidc-issuer", "--authentication-config F"
    prefixes: dict[str, Issuer] = field(default_factory=dict)  # "github:" -> issuer, from --spec
    declared: frozenset[str] = frozenset()  # identity user/group names the spec's bindings name
    rendered: frozenset[GrantKey] = frozenset()  # every (where, subject, roleRef) the spec's bindings make
    spec: str = ""  # metadata.name of --spec: the runnerkit.io/spec label its bindings carry

    def merged(self, other: OidcFacts) -> OidcFacts:
        return OidcFacts(tuple(dict.fromkeys(self.issuers + other.issuers)),
                         tuple(dict.fromkeys(self.sources + other.sources)),
                         {**self.prefixes, **other.prefixes}, self.declared | other.declared,
                         self.rendered | other.rendered, self.spec or other.spec)


def grants_of(binding: dict, cluster_wide: bool) -> set[GrantKey]:
    """What a (Cluster)RoleBinding grants, one entry per subject, comparable across bindings."""
    ns = None if cluster_wide else (binding.get("metadata") or {}).get("namespace")
    ref = binding.get("roleRef") or {}
    return {(ns, s.get("kind", ""), s.get("name", ""), ref.get("kind", ""), ref.get("name", ""))
            for s in binding.get("subjects") or []}


def rendered_bindings(objects: list[dict]) -> frozenset[GrantKey]:
    """The grants of the bindings among rendered objects (runnerkit.desired.render(spec))."""
    return frozenset(g for o in objects if o.get("kind") in ("RoleBinding", "ClusterRoleBinding")
                     for g in grants_of(o, o["kind"] == "ClusterRoleBinding"))


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
                      where: str | None, grant: GrantKey, spec_label: str, facts: OidcFacts) -> list[Finding]:
    """A binding to a user or group under an issuer prefix of the spec that the spec does not render:
    only a binding labelled with the spec's name that grants exactly what render(spec) grants (same
    namespace or cluster-wide, subject, roleRef) is the spec's own. Labels alone prove nothing: they
    may be another spec's, a leftover's, or copied by hand."""
    name = subject.get("name") or ""
    if subject.get("kind") not in ("User", "Group"):
        return []
    issuer = next((i for p, i in facts.prefixes.items() if name.startswith(p)), None)
    if issuer is None or (facts.spec and spec_label == facts.spec and grant in facts.rendered):
        return []
    first = rule_text(rules[0]) if rules else ""
    return [make_finding(CHECKS["identity-outside-spec"], who, binding, role, first, where,
                         _why_outside(name, issuer, facts, spec_label))]


def _why_outside(name: str, issuer: Issuer, facts: OidcFacts, spec_label: str) -> str:
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
    if name in facts.declared and not spec_label:
        return "a project of the spec declares this identity, but this binding was made by hand"
    if name in facts.declared and spec_label != facts.spec:
        other = "no spec" if spec_label == "?" else f"spec {spec_label}"  # managed-by without runnerkit.io/spec
        return (f"a project of the spec declares this identity, but this binding carries the labels of "
                f"{other}, not {facts.spec}")
    if name in facts.declared:
        return ("a project of the spec declares this identity, but the spec does not grant it this role here "
                "(a leftover, or labels copied by hand)")
    return "no identity of the spec is bound to exactly this name"


def declared_names(identities: Iterable[Identity]) -> frozenset[str]:
    """Every user (oidc-flags) or group (structured) name the spec's identity bindings name."""
    return frozenset(n for identity in identities for n in identity_names(identity))
