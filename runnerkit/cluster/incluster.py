"""The pod filesystem: the mounted ServiceAccount (token, ca.crt, namespace) and the in-cluster env."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..errors import InputError
from .files import read_token

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
LEGACY_ISSUER = "kubernetes/serviceaccount"


def sa_dir() -> Path:
    # RUNNERKIT_SA_DIR lets tests (and unusual runners) point at another mount.
    return Path(os.environ.get("RUNNERKIT_SA_DIR", SA_DIR))


def server_url(host: str, port: str | int | None = None) -> str:
    """https://HOST:PORT, with an IPv6 address in brackets (what client-go's in-cluster config does)."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"https://{host}:{port or 443}"


@dataclass(frozen=True)
class PodAccount:
    token_file: Path
    ca_file: Path
    namespace_file: Path
    host: str | None
    port: str | None

    @property
    def server(self) -> str | None:
        return server_url(self.host, self.port) if self.host else None

    def namespace(self) -> str | None:
        try:
            return self.namespace_file.read_text().strip() or None
        except OSError:
            return None

    def token(self) -> str:
        """The raw token: only ever used to send or to decode claims, never printed."""
        return read_token(self.token_file, "the pod's ServiceAccount token")


def pod_account() -> PodAccount:
    d = sa_dir()
    return PodAccount(d / "token", d / "ca.crt", d / "namespace",
                      os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT"))


def token_claims(token: str) -> dict:
    """Decode a JWT's claims locally (no signature check: the API server does that)."""
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError) as e:
        raise InputError(f"the ServiceAccount token is not a JWT ({type(e).__name__})") from None


# -- what a ServiceAccount token says about itself (claims only: the token itself is never shown) --


@dataclass(frozen=True)
class TokenFacts:
    namespace: str | None
    service_account: str | None
    legacy: bool
    expires: datetime | None
    audiences: tuple[str, ...]
    pod: str | None
    issuer: str | None
    subject: str | None = None  # the `sub` claim, e.g. system:serviceaccount:NS:NAME


def token_facts(claims: dict) -> TokenFacts:
    raw = claims.get("kubernetes.io")
    k8s: dict = raw if isinstance(raw, dict) else {}
    ns = k8s.get("namespace") or claims.get("kubernetes.io/serviceaccount/namespace")
    sa = ((k8s.get("serviceaccount") or {}).get("name")
          or claims.get("kubernetes.io/serviceaccount/service-account.name"))
    raw_sub = claims.get("sub")
    sub: str = raw_sub if isinstance(raw_sub, str) else ""
    parts = sub.split(":")
    if (not ns or not sa) and len(parts) == 4 and parts[:2] == ["system", "serviceaccount"]:
        ns, sa = ns or parts[2], sa or parts[3]
    exp = claims.get("exp")
    aud = claims.get("aud") or []
    pod = (k8s.get("pod") or {}).get("name")
    return TokenFacts(ns, sa, claims.get("iss") == LEGACY_ISSUER or not k8s,
                      datetime.fromtimestamp(exp, timezone.utc) if isinstance(exp, (int, float)) else None,
                      tuple([aud] if isinstance(aud, str) else aud), pod, claims.get("iss"),
                      sub or None)


def read_token_facts(token: str) -> TokenFacts | None:
    """The facts of a JWT ServiceAccount token; None for an opaque (non-JWT) token."""
    try:
        return token_facts(token_claims(token))
    except InputError:
        return None
