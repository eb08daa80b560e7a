"""CI identities in runnerkit.yaml: OIDC issuers (top level) and the per-project `identities:`.

A GitHub Actions job or a GitLab CI job authenticates to the API server with its own short-lived
OIDC ID token; the API server maps the token's claims to a username and groups (see mapping.py),
and the project's grants are bound to the groups an identity declares. Pure: no network, no files.

Values that end up inside a username or group may not contain ':' (the separator of the encoding,
see docs/oidc.md) and may not contain '*': RBAC matches names exactly, so a wildcard would only
ever match a ref literally named '*'.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

ISSUER_TYPES = ("github", "gitlab")
DEFAULT_URLS = {"github": "https://token.actions.githubusercontent.com", "gitlab": "https://gitlab.com"}
ISSUER_KEYS = ("name", "type", "url", "audience", "owners", "groups", "certificateAuthority", "authentication")
# structured: --authentication-config (Kubernetes 1.30+), CEL maps claims to exact groups.
# oidc-flags: the single-issuer --oidc-* flags (and EKS's OIDC identity provider): the username is
# PREFIX + the token's sub, no groups; a subset of identities can be expressed (check_flags).
AUTHENTICATION_MODES = ("structured", "oidc-flags")
STRUCTURED_ONLY = "or use authentication: structured (Kubernetes 1.30+)"
# The snippets' reminder of the API server's side (both CI systems, either authentication mode).
TRUST_HINT = ("# The API server must trust the issuer: `runnerkit render --format authentication-config`",
              "# (or oidc-flags / eks-identity-provider; docs/oidc.md).")
GITHUB_IDENTITY_KEYS = ("issuer", "repository", "refs", "environments", "pullRequest", "workflow")
GITLAB_IDENTITY_KEYS = ("issuer", "projectPath", "refType", "refs", "protected", "environments")
GITLAB_REF_TYPES = ("branch", "tag")

ISSUER_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
GITHUB_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
GITHUB_REPOSITORY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]+$")
GITLAB_PATH = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]*(/[A-Za-z0-9_.][A-Za-z0-9_.-]*)*$")
GITHUB_WORKFLOW = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+/\.github/workflows/[^@\s]+@refs/\S+$")
# A name segment in the encoding: no separator, no wildcard, no whitespace or control characters.
SEGMENT = re.compile(r"^[^:*\s\x00-\x1f]+$")


@dataclass(frozen=True)
class Issuer:
    name: str  # also the prefix of every username and group it maps: "NAME:"
    type: str  # github | gitlab
    url: str
    audience: str
    owners: tuple[str, ...] = ()  # github: repository_owner values; gitlab: top groups (subgroups included)
    certificate_authority: str | None = None  # PEM, for issuers not signed by a public CA
    authentication: str = "structured"  # structured | oidc-flags

    @property
    def prefix(self) -> str:
        return f"{self.name}:"

    @property
    def flags(self) -> bool:
        return self.authentication == "oidc-flags"


@dataclass(frozen=True)
class GithubIdentity:
    issuer: Issuer
    repository: str
    refs: tuple[str, ...] = ()  # full refs: refs/heads/main, refs/tags/v1; empty: any ref
    environments: tuple[str, ...] = ()  # empty: with or without an environment
    pull_request: bool = False
    workflow: str | None = None  # job_workflow_ref pin: OWNER/REPO/.github/workflows/F.yml@REF


@dataclass(frozen=True)
class GitlabIdentity:
    issuer: Issuer
    project_path: str
    ref_type: str | None = None  # branch | tag; None: any
    refs: tuple[str, ...] = ()  # bare names as in the ref claim: main, v1.2.0
    protected: bool = True  # require ref_protected == "true"
    environments: tuple[str, ...] = ()


Identity = GithubIdentity | GitlabIdentity


class Checker(Protocol):
    """The part of spec._Validator this module uses (kept as a protocol: no import cycle)."""

    def fail(self, path: tuple, message: str) -> None: ...
    def mapping(self, value: Any, path: tuple, allowed: tuple[str, ...]) -> dict: ...
    def sequence(self, value: Any, path: tuple) -> list: ...
    def boolean(self, value: Any, path: tuple) -> bool: ...


def issuers(v: Checker, value: Any) -> dict[str, Issuer]:
    out: dict[str, Issuer] = {}
    flagged: list[int] = []
    for i, item in enumerate(v.sequence(value, ("issuers",))):
        path = ("issuers", i)
        raw = v.mapping(item, path, ISSUER_KEYS)
        if not raw:
            continue
        issuer = _issuer(v, raw, path)
        if issuer is None:
            continue
        if issuer.name in out:
            v.fail(path + ("name",), f"issuer {issuer.name!r} is declared twice; names must be unique "
                                     "(each is the prefix of the usernames and groups it maps)")
            continue
        twin = next((o for o in out.values() if o.url == issuer.url), None)
        if twin:
            v.fail(path + ("url",), f"repeats the url of issuer {twin.name!r}; the API server accepts "
                                    "one entry per issuer URL: declare it once")
            continue
        out[issuer.name] = issuer
        flagged += [i] if issuer.flags else []
    if flagged and len(out) > 1:
        v.fail(("issuers", flagged[0], "authentication"),
               "oidc-flags: an API server takes one issuer through the --oidc-* flags, and not together "
               "with --authentication-config; declare only this issuer, " + STRUCTURED_ONLY + " for several")
    return out


def _issuer(v: Checker, raw: dict, path: tuple) -> Issuer | None:
    name = raw.get("name")
    ok = True
    if not isinstance(name, str) or not ISSUER_NAME.match(name) or len(name) > 63:
        v.fail(path + ("name",), f"must be a short lowercase name like github or gitlab-acme, not "
                                 f"{name!r}; it prefixes every username and group of this issuer")
        ok = False
    elif name == "system":
        v.fail(path + ("name",), "'system' is reserved by Kubernetes (system: users and groups); "
                                 "pick another name")
        ok = False
    type_ = raw.get("type", name if name in ISSUER_TYPES else None)
    if type_ not in ISSUER_TYPES:
        v.fail(path + ("type",), f"must be one of {', '.join(ISSUER_TYPES)}, not {type_!r}")
        return None
    url = raw.get("url", DEFAULT_URLS[type_])
    if not isinstance(url, str) or not re.match(r"^https://[^/?#@\s]+(/[^?#\s]*)?$", url) or url.endswith("/"):
        v.fail(path + ("url",), f"must be the issuer's https URL exactly as in the token's iss claim "
                                f"(no trailing '/', query or fragment), not {url!r}")
        ok = False
    audience = raw.get("audience")
    if not isinstance(audience, str) or not audience or any(c.isspace() for c in audience):
        v.fail(path + ("audience",), "is required: the audience (aud) the CI job requests, unique to "
                                     "this cluster, e.g. https://kubernetes.example.com")
        ok = False
    owners = _owners(v, raw, path, type_)
    ok = ok and owners is not None
    ca = raw.get("certificateAuthority")
    if ca is not None and (not isinstance(ca, str) or "-----BEGIN CERTIFICATE-----" not in ca):
        v.fail(path + ("certificateAuthority",), "must be PEM text (-----BEGIN CERTIFICATE-----...); "
                                                 "leave it out for issuers with a public certificate")
        ok = False
    authentication = raw.get("authentication", "structured")
    if authentication not in AUTHENTICATION_MODES:
        v.fail(path + ("authentication",), f"must be structured (--authentication-config, Kubernetes 1.30+) "
                                           f"or oidc-flags (the --oidc-* flags, EKS), not {authentication!r}")
        ok = False
    elif authentication == "oidc-flags" and owners and len(owners) > 1:
        claim, key = ("repository_owner", "owners") if type_ == "github" else ("namespace_path", "groups")
        v.fail(path + (key,), f"oidc-flags can require one value per claim (--oidc-required-claim="
                              f"{claim}=VALUE): list one, {STRUCTURED_ONLY}")
        ok = False
    if not ok:
        return None
    return Issuer(name, type_, url, audience, owners or (), ca, authentication)  # type: ignore[arg-type]


def _owners(v: Checker, raw: dict, path: tuple, type_: str) -> tuple[str, ...] | None:
    """The owners (github) or groups (gitlab) allowed to authenticate at all; None when invalid."""
    own_key, other_key = ("owners", "groups") if type_ == "github" else ("groups", "owners")
    if other_key in raw:
        v.fail(path + (other_key,), f"is not used by {type_} issuers; list them under {own_key}:")
    owners = v.sequence(raw.get(own_key), path + (own_key,))
    pattern = GITHUB_OWNER if type_ == "github" else GITLAB_PATH
    ok = True
    for j, owner in enumerate(owners):
        if not isinstance(owner, str) or not pattern.match(owner):
            v.fail(path + (own_key, j), f"{owner!r} is not a valid {'GitHub owner' if type_ == 'github' else 'GitLab group path'}")
            ok = False
    if not owners:
        what = "organizations or users" if type_ == "github" else "groups"
        v.fail(path + (own_key,), f"is required: the {what} whose jobs may authenticate; without it every "
                                  f"{type_} job of any {what[:-1]} in the world holding a token for this "
                                  "audience would authenticate")
        ok = False
    return tuple(owners) if ok else None


def identities(v: Checker, value: Any, path: tuple, known: dict[str, Issuer]) -> tuple[Identity, ...]:
    out: list[Identity] = []
    for i, item in enumerate(v.sequence(value, path)):
        here = path + (i,)
        if not isinstance(item, dict):
            v.fail(here, "must be a mapping with issuer: and the repository or project it names")
            continue
        name = item.get("issuer")
        issuer = known.get(name) if isinstance(name, str) else None
        if issuer is None:
            v.fail(here + ("issuer",), f"{'is missing' if name is None else repr(name) + ' is not declared'}; "
                                       "set issuer: to one of: " + (", ".join(known) or "none (add issuers: at the top level)"))
            continue
        identity = (_github(v, item, here, issuer) if issuer.type == "github"
                    else _gitlab(v, item, here, issuer))
        if identity is not None:
            if identity in out:
                v.fail(here, "repeats an identity declared above; keep one")
            else:
                out.append(identity)
    return tuple(out)


def _segments(v: Checker, value: Any, path: tuple, what: str) -> tuple[str, ...]:
    items = v.sequence(value, path)
    out = []
    for j, item in enumerate(items):
        if not isinstance(item, str) or not SEGMENT.match(item):
            v.fail(path + (j,), f"{item!r} is not a valid {what}: a plain name without ':', '*' or spaces "
                                "(RBAC matches names exactly, so list each one)")
        else:
            out.append(item)
    if value is not None and not items and isinstance(value, list):
        v.fail(path, "is empty; leave it out to allow any, or list at least one")
    if len(set(out)) != len(out):
        v.fail(path, "lists a value twice; keep one")
    return tuple(dict.fromkeys(out))


def _github(v: Checker, raw: dict, path: tuple, issuer: Issuer) -> GithubIdentity | None:
    v.mapping(raw, path, GITHUB_IDENTITY_KEYS)
    repo = raw.get("repository")
    ok = True
    if not isinstance(repo, str) or not GITHUB_REPOSITORY.match(repo):
        v.fail(path + ("repository",), f"must be OWNER/REPO as GitHub spells it, not {repo!r}")
        ok = False
    elif repo.split("/")[0] not in issuer.owners:
        v.fail(path + ("repository",), f"belongs to {repo.split('/')[0]!r}, which issuer {issuer.name!r} "
                                       f"does not allow; add it to issuers[].owners or fix the repository")
        ok = False
    refs = _segments(v, raw.get("refs"), path + ("refs",), "ref")
    for j, ref in enumerate(refs):
        if not ref.startswith(("refs/heads/", "refs/tags/")):
            v.fail(path + ("refs", j), f"{ref!r} must be a full ref as in the token's ref claim: "
                                       f"refs/heads/{ref} or refs/tags/{ref}")
            ok = False
    envs = _segments(v, raw.get("environments"), path + ("environments",), "environment")
    pull_request = v.boolean(raw["pullRequest"], path + ("pullRequest",)) if "pullRequest" in raw else False
    if pull_request and refs:
        v.fail(path + ("refs",), "cannot be combined with pullRequest: true: pull request tokens carry "
                                 "refs/pull/N/merge; declare a separate identity for pull requests")
        ok = False
    workflow = raw.get("workflow")
    if workflow is not None and (not isinstance(workflow, str) or not GITHUB_WORKFLOW.match(workflow)
                                 or ":" in workflow or "*" in workflow):
        v.fail(path + ("workflow",), "must be a job_workflow_ref: OWNER/REPO/.github/workflows/FILE.yml@"
                                     f"refs/heads/BRANCH (or @refs/tags/TAG), not {workflow!r}")
        ok = False
    if not ok:
        return None
    identity = GithubIdentity(issuer, repo, refs, envs, pull_request, workflow)  # type: ignore[arg-type]
    return identity if not issuer.flags or _github_flags(v, identity, path) else None


def _gitlab(v: Checker, raw: dict, path: tuple, issuer: Issuer) -> GitlabIdentity | None:
    v.mapping(raw, path, GITLAB_IDENTITY_KEYS)
    project = raw.get("projectPath")
    ok = True
    if not isinstance(project, str) or "/" not in project or not GITLAB_PATH.match(project):
        v.fail(path + ("projectPath",), f"must be GROUP/PROJECT (subgroups allowed), not {project!r}")
        ok = False
    elif not any(project.startswith(g + "/") for g in issuer.owners):
        v.fail(path + ("projectPath",), f"is outside the groups issuer {issuer.name!r} allows "
                                        f"({', '.join(issuer.owners)}); add its group to issuers[].groups")
        ok = False
    ref_type = raw.get("refType")
    if ref_type is not None and ref_type not in GITLAB_REF_TYPES:
        v.fail(path + ("refType",), f"must be branch or tag, not {ref_type!r}")
        ok = False
    refs = _segments(v, raw.get("refs"), path + ("refs",), "ref")
    for j, ref in enumerate(refs):
        if ref.startswith("refs/"):
            v.fail(path + ("refs", j), f"GitLab's ref claim is the bare name: write {ref.split('/', 2)[-1]!r}")
            ok = False
    if refs and ref_type is None:
        ref_type = "branch"
    protected = v.boolean(raw["protected"], path + ("protected",)) if "protected" in raw else True
    envs = _segments(v, raw.get("environments"), path + ("environments",), "environment")
    if not ok:
        return None
    identity = GitlabIdentity(issuer, project, ref_type, refs, protected, envs)  # type: ignore[arg-type]
    return identity if not issuer.flags or _gitlab_flags(v, identity, path) else None


# With the --oidc-* flags the username is PREFIX + sub and there are no groups, so an identity must
# name exactly the subs a binding can list. GitHub's default sub is repo:R:environment:E when the job
# has an environment, else repo:R:pull_request for pull requests, else repo:R:ref:REF; GitLab's is
# project_path:P:ref_type:T:ref:R (no environment, no protection).

def _github_flags(v: Checker, i: GithubIdentity, path: tuple) -> bool:
    if i.workflow:
        v.fail(path + ("workflow",), "oidc-flags map only the sub claim, which does not carry "
                                     f"job_workflow_ref; remove workflow, {STRUCTURED_ONLY}")
        return False
    if i.refs and i.environments or not (i.refs or i.environments or i.pull_request):
        what = "refs and environments" if i.refs else "none of refs, environments, pullRequest: true"
        v.fail(path, f"declares {what}: with oidc-flags the username is GitHub's sub, which names one "
                     "environment, or a pull request, or one ref; declare exactly one of them per "
                     f"identity, {STRUCTURED_ONLY}")
        return False
    if i.environments and not i.pull_request:
        v.fail(path + ("environments",), "with oidc-flags an environment admits every job that deploys "
                                         "to it, pull requests included (GitHub's sub names the environment "
                                         "whatever the event): write pullRequest: true to accept that and "
                                         "restrict the environment to protected branches in GitHub, "
                                         + STRUCTURED_ONLY)
        return False
    return True


def _gitlab_flags(v: Checker, i: GitlabIdentity, path: tuple) -> bool:
    ok = True
    if i.environments:
        v.fail(path + ("environments",), "oidc-flags map only the sub claim, which does not carry the "
                                         f"environment; remove environments, {STRUCTURED_ONLY}")
        ok = False
    if not i.refs:
        v.fail(path + ("refs",), "is required with oidc-flags: GitLab's sub names the ref "
                                 "(project_path:P:ref_type:T:ref:R) and RBAC cannot match any ref")
        ok = False
    if not i.protected:
        v.fail(path + ("protected",), "oidc-flags require ref_protected=true of every token of the issuer "
                                      f"(--oidc-required-claim); remove protected: false, {STRUCTURED_ONLY}")
        ok = False
    if i.project_path.rsplit("/", 1)[0] != i.issuer.owners[0]:
        v.fail(path + ("projectPath",), f"is in a subgroup of {i.issuer.owners[0]!r}: oidc-flags require "
                                        "one exact namespace_path (--oidc-required-claim), so only projects "
                                        f"directly in that group authenticate; move the project, {STRUCTURED_ONLY}")
        ok = False
    return ok


def identity_for(identities: tuple[Identity, ...], ci: str) -> Identity | None:
    """The project's first identity for a CI system ("github" or "gitlab"), if it declares one."""
    kind: type = GithubIdentity if ci == "github" else GitlabIdentity
    return next((i for i in identities if isinstance(i, kind)), None)
