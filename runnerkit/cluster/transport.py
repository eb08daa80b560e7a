"""HTTP to the API server on the connection pool the official client built, without its
per-request work (parameter sanitising, header merging, content-type regexes) in the way.

Kubeconfig loading, TLS and auth stay the kubernetes client's: we take its configured pool and
ask its configuration for auth headers on every request, which runs token refresh hooks (exec
plugins, OIDC, in-cluster token rotation).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

from .. import __version__
from ..errors import InputError
from ..model import redact

class Transport:
    def __init__(self, host: str, open_: Callable[..., Any], auth: Callable[[], dict], ca: bytes | None):
        import urllib3

        self.host = host
        self._open = open_
        self._auth = auth
        self._timeout = urllib3.Timeout(connect=10, read=60)
        self._headers = {"Accept": "application/json", "User-Agent": f"runnerkit/{__version__}"}
        self.ca = ca

    def exchange(self, method: str, target: str, payload: bytes | None, content_type: str,
                 extra: dict[str, str] | None = None,
                 seconds: float | None = None) -> tuple[int, bytes, str | None]:
        """(status, body, Retry-After); `seconds` bounds this attempt (what is left of the deadline)."""
        import urllib3

        headers = {**self._headers, **(extra or {}), **self._auth()}
        if payload is not None:
            headers["Content-Type"] = content_type
        timeout = self._timeout if seconds is None else urllib3.Timeout(
            connect=max(0.1, min(10, seconds)), read=max(0.1, min(60, seconds)))
        # retries=False: the one retry policy lives in the caller (runnerkit.model.retry), not in urllib3
        response = self._open(method, target, body=payload, headers=headers, timeout=timeout,
                              preload_content=True, retries=False)
        return response.status, response.data, response.headers.get("Retry-After")


def from_api_client(api_client: Any) -> Transport:
    """Requests straight onto the pool the kubernetes client built (TLS, client certificates, proxy),
    skipping its per-request work: parameter sanitising, header merging, content-type regexes."""
    import urllib3

    configuration = api_client.configuration
    host = configuration.host.rstrip("/")
    manager = api_client.rest_client.pool_manager
    if type(manager) is urllib3.PoolManager:  # no proxy: talk to the one host pool directly
        open_ = _pool_opener(manager.connection_from_url(host), host)
    else:  # proxies need the absolute URL and their own routing
        def open_(method: str, target: str, **kw: Any) -> Any:
            return manager.urlopen(method, host + target, **kw)

    def auth() -> dict:
        # Per request, as the generated client does: this runs the kubeconfig's token refresh hook
        # (exec plugins, OIDC, in-cluster token rotation) when there is one.
        # Trimmed, as client-go trims token files: a trailing newline would make the header invalid.
        headers = {a["key"]: str(a["value"]).strip() for a in configuration.auth_settings().values()
                   if a.get("value")}
        for value in headers.values():
            redact.register(value)
            redact.register(value.partition(" ")[2])
            if any(c in value for c in "\r\n\0"):
                raise InputError("the credential from the kubeconfig holds a line break or control "
                                 "character; a token file holds the bare token only")
        return headers

    ca = None
    if configuration.ssl_ca_cert:
        try:
            ca = Path(configuration.ssl_ca_cert).read_bytes()
        except OSError:
            pass
    return Transport(host, open_, auth, ca)


def _pool_opener(pool: Any, host: str) -> Callable[..., Any]:
    import urllib3

    base = urllib3.util.parse_url(host).path or ""  # e.g. a Rancher /k8s/clusters/ID

    def open_(method: str, target: str, **kw: Any) -> Any:
        return pool.urlopen(method, base + target, **kw)
    return open_


def query_string(query: dict | None) -> str:
    params = [f"{k}={quote(str(v).lower() if isinstance(v, bool) else str(v))}"
              for k, v in (query or {}).items() if v is not None]
    return "?" + "&".join(params) if params else ""


def encode(body: Any) -> bytes | None:
    if body is None or isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    # JSON is YAML too, so apply-patch+yaml bodies are sent as JSON like every other body.
    return json.dumps(body, separators=(",", ":")).encode()
