"""HTTP to GitLab and GitHub that keeps their tokens safe on the wire, with the shared retry policy.
(In cluster/, the lowest layer that does network I/O, so that gitlab/ and github/ share it without
importing each other; model/ stays pure.)

- A plain http:// API URL is refused (the token would cross the network in clear text) unless it is
  a loopback address or the user passes --insecure-http.
- On a redirect to another host (or to http://), the token headers are dropped: `requests` strips
  only Authorization itself, and would re-send PRIVATE-TOKEN to wherever the redirect points.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Any
from urllib.parse import urlsplit

from ..errors import ApiError, InputError, Unreachable
from ..model import redact
from ..model.retry import RETRYABLE_STATUS, Policy, transient

SECRET_HEADERS = ("PRIVATE-TOKEN", "Authorization", "JOB-TOKEN")


def check_url(url: str, flag: str, insecure_http: bool = False,
              example: str = "an https:// URL, e.g. https://gitlab.example.com") -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InputError(f"{flag} {url!r}: must be {example}")
    if parts.scheme == "http" and not insecure_http and not is_loopback(parts.hostname):
        raise InputError(f"{flag} {url!r}: plain http:// would send the token in clear text; use https://, "
                         "or pass --insecure-http if this network is trusted")
    return url.strip()


def token_from_env(variable: str, need: str) -> str:
    """A SaaS API token from the environment only (out of shell history and process lists),
    registered with the redactor before anything can print it."""
    token = os.environ.get(variable, "").strip()
    redact.register(token)
    if not token:
        raise InputError(f"{variable} is not set: export {need} (read from the environment only, so it "
                         "stays out of shell history and process lists; never printed)")
    return token


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def session(headers: dict[str, str]) -> Any:
    """A requests.Session with `headers`, the token values registered with the redactor."""
    import requests

    class Session(requests.Session):
        def rebuild_auth(self, prepared: Any, response: Any) -> None:
            super().rebuild_auth(prepared, response)  # type: ignore[no-untyped-call]
            if self.should_strip_auth(response.request.url, prepared.url):  # type: ignore[no-untyped-call]
                for name in SECRET_HEADERS:
                    prepared.headers.pop(name, None)

    s = Session()
    s.headers.update(headers)
    for name in SECRET_HEADERS:
        if name in headers:
            redact.register(headers[name])
            redact.register(headers[name].partition(" ")[2])
    return s


def json_body(response: Any, what: str) -> Any:
    """The JSON of a successful answer; anything else is an API error, not a crash."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise ApiError(f"{what} answered HTTP {response.status_code} with something that is not JSON; "
                       "is the URL the API's address?", response.status_code) from None


def send(s: Any, method: str, url: str, what: str, policy: Policy | None = None, **kwargs: Any) -> Any:
    """One request with the retry policy: 429/5xx/resets/timeouts again, within the deadline."""
    import requests

    attempts = (policy or Policy()).start()
    while True:
        try:
            response = s.request(method, url, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as e:
            if transient(e) and attempts.wait():
                continue
            raise Unreachable(f"cannot reach {what}: {type(e).__name__} (after {attempts.done} attempts); "
                              "check the URL and the network") from None
        except requests.RequestException as e:
            raise Unreachable(f"cannot reach {what}: {type(e).__name__}; check the URL and the network") from None
        if response.status_code in RETRYABLE_STATUS and attempts.wait(response.headers.get("Retry-After")):
            continue
        return response
