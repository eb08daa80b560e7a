"""GitHub Actions variables through the REST API (repository or environment), create or update.

API: GET/PATCH /repos/{owner}/{repo}/actions/variables/{name}, POST /repos/{owner}/{repo}/actions/variables,
and the same under /repos/{owner}/{repo}/environments/{environment_name}/variables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ..cluster.saas_http import check_url, json_body, send, session
from ..errors import ApiError, InputError, http_error
from ..model.kvalues import github_repository
from ..model.spec import Project

API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TIMEOUT = (10, 30)


def project_variables(project: Project) -> dict[str, str]:
    """What a workflow needs to know about its project: the namespace and the ServiceAccount."""
    return {"KUBE_NAMESPACE": project.namespace, "KUBE_SERVICE_ACCOUNT": project.service_account}


def parse_assignment(text: str) -> tuple[str, str]:
    """NAME=VALUE from --set; GitHub stores names upper-cased, so we do too."""
    name, sep, value = text.partition("=")
    if not sep or not VARIABLE_NAME.match(name):
        raise InputError(f"--set {text!r}: write NAME=VALUE, NAME of letters, digits and '_', not "
                         "starting with a digit")
    if name.upper().startswith("GITHUB_"):
        raise InputError(f"--set {name}: GitHub reserves names starting with GITHUB_; pick another")
    return name.upper(), value


def variables_path(repository: str, environment: str | None = None) -> str:
    if (problem := github_repository(repository)) is not None:
        raise InputError(f"repository {problem}")
    owner, _, repo = repository.partition("/")
    base = f"/repos/{quote(owner, safe='')}/{quote(repo, safe='')}"
    if environment:
        return f"{base}/environments/{quote(environment, safe='')}/variables"
    return f"{base}/actions/variables"


@dataclass(frozen=True)
class VariableChange:
    name: str
    value: str
    action: str  # create, update, unchanged
    old: str | None = None


class GithubApi:
    """A `requests` session with GitHub's headers. The token lives only in the session headers."""

    def __init__(self, token: str, api_url: str = API_URL, insecure_http: bool = False):
        self.api_url = check_url(api_url, "--api-url", insecure_http, "a URL, e.g. https://github.example.com/api/v3").rstrip("/")
        self.session = session({"Accept": "application/vnd.github+json",
                                "X-GitHub-Api-Version": API_VERSION,
                                "Authorization": f"Bearer {token}",
                                "User-Agent": "runnerkit"})

    def __repr__(self) -> str:
        return f"GithubApi({self.api_url!r})"

    def call(self, method: str, path: str, body: dict | None = None, ok_missing: bool = False) -> Any:
        response = send(self.session, method, self.api_url + path, f"the GitHub API at {self.api_url}",
                        json=body, timeout=TIMEOUT)
        if ok_missing and response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise _error(response, method, path)
        return json_body(response, f"the GitHub API at {self.api_url}") or {}

    def get_variable(self, repository: str, name: str, environment: str | None = None) -> str | None:
        data = self.call("GET", f"{variables_path(repository, environment)}/{name}", ok_missing=True)
        return None if data is None else str(data.get("value", ""))

    def create_variable(self, repository: str, name: str, value: str, environment: str | None = None) -> None:
        self.call("POST", variables_path(repository, environment), {"name": name, "value": value})

    def update_variable(self, repository: str, name: str, value: str, environment: str | None = None) -> None:
        self.call("PATCH", f"{variables_path(repository, environment)}/{name}", {"name": name, "value": value})


def push_variables(api: GithubApi, repository: str, variables: dict[str, str],
                   environment: str | None = None, dry_run: bool = False) -> list[VariableChange]:
    """Create or update each variable; no write when the value is already there."""
    changes = []
    for name, value in variables.items():
        old = api.get_variable(repository, name, environment)
        action = "create" if old is None else "unchanged" if old == value else "update"
        if not dry_run:
            if action == "create":
                api.create_variable(repository, name, value, environment)
            elif action == "update":
                api.update_variable(repository, name, value, environment)
        changes.append(VariableChange(name, value, action, old))
    return changes


def _error(response: Any, method: str, path: str) -> ApiError:
    try:
        message = response.json().get("message") or ""
    except ValueError:
        message = ""
    message = (message or response.text[:200] or f"HTTP {response.status_code}").strip()
    where = f"{method} {path}"
    status = response.status_code
    if status == 403 and response.headers.get("X-RateLimit-Remaining") == "0":
        # Not a permission problem: the same request works once the limit resets.
        return ApiError(f"GitHub rate limit exhausted on {where}; retry after "
                        f"{response.headers.get('X-RateLimit-Reset', 'a while')}", status)
    return http_error(status, _github_message(status, message, where))


def _github_message(status: int, message: str, where: str) -> str:
    if status == 401:
        return f"GitHub rejected GITHUB_TOKEN (401 {message}) on {where}: it is invalid or expired"
    if status == 403:
        return (f"GITHUB_TOKEN may not do {where} (403 {message}): a classic token needs the repo "
                "scope; a fine-grained token or GitHub App needs write access to 'Variables' "
                "(repository variables) or 'Environments' (environment variables)")
    if status == 404:
        return (f"{where}: 404 {message}: the repository does not exist or GITHUB_TOKEN cannot see "
                "it, or the environment does not exist (create it under Settings > Environments)")
    return f"{where} failed: {message} (HTTP {status})"
