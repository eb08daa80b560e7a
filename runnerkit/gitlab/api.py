"""GitLab REST API: create or update a project's CI/CD variables (and nothing else).

Endpoints (GitLab docs, "Project-level CI/CD variables API"):
    GET  /projects/:id                      the project exists and the token can see it
    GET  /projects/:id/variables/:key       ?filter[environment_scope]=SCOPE
    POST /projects/:id/variables            key, value, environment_scope, ...
    PUT  /projects/:id/variables/:key       ?filter[environment_scope]=SCOPE; value, ...
`:id` is the numeric id or the URL-encoded path (group%2Fproject). Auth: PRIVATE-TOKEN header.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from ..cluster.saas_http import check_url, json_body, send, session as safe_session, token_from_env as saas_token
from ..errors import ApiError, NotFound, http_error

TOKEN_ENV = "GITLAB_TOKEN"
CREATE, UPDATE, UNCHANGED = "created", "updated", "unchanged"


def token_from_env() -> str:
    return saas_token(TOKEN_ENV, "a GitLab access token with the api scope and at least the Maintainer "
                                 "role on the project")


def api_base(url: str, insecure_http: bool = False) -> str:
    parts = urlsplit(check_url(url, "--gitlab-url", insecure_http,
                               "the GitLab address, e.g. https://gitlab.example.com"))
    path = parts.path.rstrip("/")
    if not path.endswith("/api/v4"):
        path += "/api/v4"
    return f"{parts.scheme}://{parts.netloc}{path}"


@dataclass(frozen=True)
class VariableChange:
    key: str
    action: str  # created / updated / unchanged
    scope: str


class GitlabClient:
    def __init__(self, base_url: str, token: str, timeout: float = 30, session: Any = None,
                 insecure_http: bool = False):
        self.base = api_base(base_url, insecure_http)
        self.timeout = timeout
        self.session = session or safe_session({"PRIVATE-TOKEN": token, "Accept": "application/json"})

    def __repr__(self) -> str:  # never the token
        return f"GitlabClient({self.base!r})"

    def request(self, method: str, path: str, *, params: dict | None = None, body: dict | None = None) -> Any:
        response = send(self.session, method, self.base + path, f"GitLab at {self.base}", params=params,
                        json=body, timeout=self.timeout)
        if response.status_code >= 400:
            raise gitlab_error(response.status_code, _message(response), method, path)
        return json_body(response, f"GitLab at {self.base}")

    # -- the endpoints --------------------------------------------------------------------------

    def project(self, project: str) -> dict:
        return self.request("GET", f"/projects/{encode_project(project)}")

    def variable(self, project: str, key: str, scope: str) -> dict | None:
        try:
            return self.request("GET", f"/projects/{encode_project(project)}/variables/{quote(key, safe='')}",
                                params={"filter[environment_scope]": scope})
        except NotFound:
            return None

    def create_variable(self, project: str, key: str, value: str, scope: str) -> dict:
        return self.request("POST", f"/projects/{encode_project(project)}/variables",
                            body={"key": key, "value": value, "variable_type": "env_var",
                                  "environment_scope": scope, "protected": False, "masked": False,
                                  "raw": True})

    def update_variable(self, project: str, key: str, value: str, scope: str) -> dict:
        return self.request("PUT", f"/projects/{encode_project(project)}/variables/{quote(key, safe='')}",
                            params={"filter[environment_scope]": scope},
                            body={"value": value, "variable_type": "env_var", "environment_scope": scope,
                                  "raw": True})


def encode_project(project: str) -> str:
    """A numeric id as is; a path URL-encoded, `/` included (group%2Fsub%2Fproject)."""
    project = str(project).strip().strip("/")
    return project if project.isdigit() else quote(project, safe="")


def push_variables(client: GitlabClient, project: str, variables: dict[str, str], scope: str = "*",
                   dry_run: bool = False) -> list[VariableChange]:
    """Create or update each variable; only what differs is written. dry_run: reads only."""
    client.project(project)  # a clear 404 for the project itself, before any variable
    changes = []
    for key, value in variables.items():
        current = client.variable(project, key, scope)
        if current is None:
            action = CREATE
            if not dry_run:
                client.create_variable(project, key, value, scope)
        elif current.get("value") != value or current.get("variable_type", "env_var") != "env_var":
            action = UPDATE
            if not dry_run:
                client.update_variable(project, key, value, scope)
        else:
            action = UNCHANGED
        changes.append(VariableChange(key, action, scope))
    return changes


def gitlab_error(status: int, message: str, method: str, path: str) -> ApiError:
    return http_error(status, _gitlab_message(status, message, method, path))


def _gitlab_message(status: int, message: str, method: str, path: str) -> str:
    where = f"{method} {path}"
    if status == 401:
        return (f"GitLab rejected the token (401 Unauthorized) on {where}: check that "
                f"{TOKEN_ENV} holds a valid, unexpired token")
    if status == 403:
        return (f"GitLab refused {where} (403 Forbidden: {message}): the token needs the api "
                "scope and at least the Maintainer role on the project")
    if status == 404:
        what = "project" if "/variables" not in path or "Project" in message else "variable"
        return (f"GitLab answered 404 ({message}) on {where}: the {what} does not exist or the "
                "token cannot see it; check the project id/path (gitlab.project in the spec or "
                "--project) and --gitlab-url")
    return f"GitLab {where} failed: {message} (HTTP {status})"


def _message(response: Any) -> str:
    try:
        data = response.json()
    except ValueError:
        return (response.text or "").strip()[:200] or response.reason or ""
    if isinstance(data, dict):
        for key in ("message", "error_description", "error"):
            if data.get(key):
                return str(data[key])[:300]
    return str(data)[:300]
