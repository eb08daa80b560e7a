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


@dataclass(frozen=True)
class PodAccount:
    token_file: Path
    ca_file: Path
    namespace_file: Path
    host: str | None
    port: str | None

    @property
    def server(self) -> str | None:
        if not self.host:
            return None
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"https://{host}:{self.port or '443'}"

    def namespace(self) -> str | None:
        try:
            return self.namespace_file.read_text().strip() or None
        except OSError:
            return None

    def token(self) -> str:
        """The raw token: only ever used to send or to decode claims, never printed."""
        return self.token_file.read_text().strip()

    def missing(self) -> list[str]:
        out = []
        if not self.host:
            out.append("KUBERNETES_SERVICE_HOST is not set (not running in a pod?)")
        for f, what in ((self.token_file, "token"), (self.ca_file, "ca.crt")):
            if not f.exists():
                out.append(f"{f} is missing (no ServiceAccount {what} mounted: "
                           "automountServiceAccountToken may be false)")
        return out


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
