"""The job's side of keyless identities: ExecCredentials and kubeconfigs that run the exec plugin.

kubectl, helm and client-go run `runnerkit credential github|gitlab` whenever they need a token and
again once the ExecCredential's expirationTimestamp has passed, so a job keeps working past one ID
token's lifetime with nothing stored. Pure: no network, no files, no clock of its own.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime, timezone

from ..errors import InputError

EXEC_API = "client.authentication.k8s.io/v1"
REFRESH_EARLY_SECONDS = 30  # ask for a new token a little before the old one expires


def claims_of(token: str, source: str) -> dict:
    """The payload of a JWT, unverified (the API server verifies it); errors never show the token."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise InputError(f"{source}: is not a JWT (expected three dot-separated parts)")
    try:
        payload = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        raise InputError(f"{source}: is not a JWT (its payload is not base64url JSON)") from None
    if not isinstance(claims, dict):
        raise InputError(f"{source}: is not a JWT (its payload is not a JSON object)")
    return claims


def audiences(claims: dict) -> list[str]:
    aud = claims.get("aud")
    return [aud] if isinstance(aud, str) else [a for a in aud or [] if isinstance(a, str)]


def check_token(claims: dict, source: str, audience: str, now: float) -> int:
    """The token's expiry (unix seconds) after checking audience and lifetime."""
    if audience not in audiences(claims):
        raise InputError(f"{source}: the ID token is for audience {', '.join(audiences(claims)) or 'none'}, "
                         f"not {audience!r}; request it with aud: {audience}")
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)):
        raise InputError(f"{source}: the ID token has no exp claim")
    if exp <= now:
        raise InputError(f"{source}: the ID token expired at {rfc3339(exp)}; GitLab issues id_tokens once "
                         "per job, valid for the job's timeout: raise the timeout or split the job"
                         if source.startswith("$") else f"{source}: the ID token expired at {rfc3339(exp)}")
    return int(exp)


def exec_credential(token: str, expires: int, now: float) -> dict:
    expiry = max(int(now), expires - REFRESH_EARLY_SECONDS)
    return {"apiVersion": EXEC_API, "kind": "ExecCredential",
            "status": {"token": token, "expirationTimestamp": rfc3339(expiry)}}


def rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def kubeconfig(server: str, ca_pem: bytes | None, namespace: str | None, ci: str, audience: str,
               command: str = "runnerkit", variable: str | None = None) -> dict:
    """A kubeconfig whose user is the exec plugin; no credential in it."""
    args = ["credential", ci, "--audience", audience]
    if variable:
        args += ["--variable", variable]
    cluster: dict = {"server": server}
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    user = {"exec": {"apiVersion": EXEC_API, "command": command, "args": args,
                     "interactiveMode": "Never", "provideClusterInfo": False,
                     "installHint": "pip install runnerkit (the job needs it on PATH to get its ID token)"}}
    context: dict = {"cluster": "kubernetes", "user": f"{ci}-oidc"}
    if namespace:
        context["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "Config", "current-context": "runnerkit",
            "clusters": [{"name": "kubernetes", "cluster": cluster}],
            "users": [{"name": f"{ci}-oidc", "user": user}],
            "contexts": [{"name": "runnerkit", "context": context}], "preferences": {}}
