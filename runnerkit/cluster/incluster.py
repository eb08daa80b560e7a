"""The pod filesystem: the mounted ServiceAccount (token, ca.crt, namespace) and the in-cluster env."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


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
        return self.token_file.read_text().strip()


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
