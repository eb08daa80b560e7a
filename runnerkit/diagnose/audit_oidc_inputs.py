"""What audit is told about the API server's JWT issuers (--spec, --oidc-issuer, --authentication-config),
checked and read like every other input: bounded reads, alias-free and depth-limited YAML, one clear
error naming the file and field (exit 2) before any request."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from ..cluster.files import read_input
from ..desired import render
from ..errors import InputError
from ..model.spec import Spec
from ..model.yamlsrc import Located, format_path, parse
from .audit_oidc import OidcFacts, declared_names, rendered_bindings

_ISSUER_URL = re.compile(r"https://[^/?#\s]+[^?#\s]*")
_FILE_HINT = "pass the file the API server's --authentication-config names"


def learn(spec: Spec | None, spec_path: str, issuers: Iterable[str], authentication_config: str | None) -> OidcFacts:
    """Everything audit was told, merged in this order (the sources say where each issuer came from)."""
    facts = OidcFacts()
    if spec is not None and spec.issuers:
        facts = facts.merged(from_spec(spec, spec_path))
    for url in issuers:
        facts = facts.merged(from_issuer_flag(url))
    if authentication_config:
        facts = facts.merged(from_authentication_config(Path(authentication_config)))
    return facts


def from_spec(spec: Spec, spec_path: str) -> OidcFacts:
    """The spec's issuers, their name prefixes, and the identity bindings its apply renders."""
    return OidcFacts(tuple(i.url for i in spec.issuers.values()), (f"{spec_path} issuers",),
                     {i.prefix: i for i in spec.issuers.values()},
                     declared_names(i for p in spec.projects for i in p.identities),
                     rendered_bindings(render(spec)), spec.name)


def from_issuer_flag(url: str) -> OidcFacts:
    if not _ISSUER_URL.fullmatch(url):
        raise InputError(f"--oidc-issuer {url!r}: write the issuer URL as in the tokens' iss claim, "
                         "e.g. https://token.actions.githubusercontent.com or https://gitlab.com")
    return OidcFacts((url,), ("--oidc-issuer",))


def from_authentication_config(path: Path) -> OidcFacts:
    urls = issuer_urls(parse(read_input(path, f"; {_FILE_HINT}"), str(path),
                             (_FILE_HINT, "write the value out")))
    return OidcFacts(tuple(urls), (str(path),) if urls else ())


def issuer_urls(doc: Located) -> list[str]:
    """The jwt[].issuer.url of an AuthenticationConfiguration (v1alpha1, v1beta1 or v1), or one clear error."""
    data = doc.data
    if not isinstance(data, dict) or data.get("kind") != "AuthenticationConfiguration":
        raise InputError(f"{doc.where(('kind',))}: kind: not an AuthenticationConfiguration; {_FILE_HINT}")
    jwt = data.get("jwt") or []
    if not isinstance(jwt, list):
        raise InputError(f"{doc.where(('jwt',))}: jwt: must be a list of authenticators")
    urls = []
    for i, entry in enumerate(jwt):
        issuer = entry.get("issuer") if isinstance(entry, dict) else None
        url = issuer.get("url") if isinstance(issuer, dict) else None
        path = ("jwt", i, "issuer", "url")
        if not isinstance(url, str) or not url:
            raise InputError(f"{doc.where(path)}: {format_path(path)}: missing or not a string; every JWT "
                             "authenticator names its issuer URL")
        urls.append(url)
    return urls
