"""Fetch a GitHub Actions OIDC ID token for an audience (what @actions/core getIDToken does).

The job needs `permissions: id-token: write`; GitHub then sets ACTIONS_ID_TOKEN_REQUEST_URL and
ACTIONS_ID_TOKEN_REQUEST_TOKEN. The request token and the ID token never appear in an error.
"""

from __future__ import annotations

from urllib.parse import quote

from ..errors import ApiError, InputError, Unreachable, http_error
from ..model import redact

URL_VARIABLE = "ACTIONS_ID_TOKEN_REQUEST_URL"
TOKEN_VARIABLE = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
TIMEOUT = (10, 30)


def request_url(base: str, audience: str) -> str:
    return f"{base}{'&' if '?' in base else '?'}audience={quote(audience, safe='')}"


def fetch(environ: dict, audience: str) -> str:
    url, bearer = environ.get(URL_VARIABLE), environ.get(TOKEN_VARIABLE)
    if not url or not bearer:
        raise InputError(f"{URL_VARIABLE} and {TOKEN_VARIABLE} are not set: run this in a GitHub Actions "
                         "job with `permissions: id-token: write`")
    redact.register(bearer)
    import requests

    try:
        response = requests.get(request_url(url, audience), timeout=TIMEOUT,
                                headers={"Authorization": f"Bearer {bearer}", "Accept": "application/json"})
    except requests.RequestException as e:
        raise Unreachable(f"cannot reach GitHub's ID token endpoint: {type(e).__name__}") from None
    if response.status_code != 200:
        raise http_error(response.status_code, f"GitHub's ID token endpoint answered {response.status_code}: "
                         "check that the job has `permissions: id-token: write` (pull requests from forks "
                         "never get one)")
    try:
        value = response.json()["value"]
    except (ValueError, KeyError, TypeError):
        value = None
    if not isinstance(value, str) or not value:
        raise ApiError("GitHub's ID token endpoint answered without a token (no `value` in its JSON)")
    redact.register(value)
    return value
