"""push-variables against a local stand-in for GitHub's REST API that records every request."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import pytest

from conftest import run_cli
from runnerkit.github import api as gh
from runnerkit.errors import Unreachable

TOKEN = "ghp_TESTTOKENthatMustNeverBePrinted0001"
SPEC = """apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata: {name: gh}
runners:
  - {name: arc, type: github, namespace: arc-runners}
projects:
  - {name: mobile, runner: arc, github: {repository: example-org/mobile}}
  - {name: app, runner: arc, namespace: app-prod, github: {repository: example-org/app, environment: prod env}}
  - {name: norepo, runner: arc}
"""
VARS = re.compile(r"^(?P<prefix>.*)/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
                  r"(?:/actions|/environments/(?P<env>[^/]+))/variables(?:/(?P<name>[^/]+))?$")


class FakeGithub:
    """Variables per (repo, environment); 404 for unknown repositories and environments."""

    def __init__(self):
        self.store: dict[tuple[str, str | None], dict[str, str]] = {}
        self.requests: list[dict] = []
        self.status_override: int | None = None

    def handle(self, h: BaseHTTPRequestHandler, method: str):
        length = int(h.headers.get("Content-Length") or 0)
        body = json.loads(h.rfile.read(length)) if length else None
        self.requests.append({"method": method, "path": h.path, "headers": dict(h.headers), "body": body})
        if self.status_override:
            return self.reply(h, self.status_override, {"message": "Bad credentials"})
        m = VARS.match(h.path)
        key = (f"{m['owner']}/{m['repo']}", unquote(m["env"]) if m and m["env"] else None) if m else None
        if not m or key not in self.store:
            return self.reply(h, 404, {"message": "Not Found"})
        variables = self.store[key]
        if method == "GET" and m["name"]:
            if m["name"] not in variables:
                return self.reply(h, 404, {"message": "Not Found"})
            return self.reply(h, 200, {"name": m["name"], "value": variables[m["name"]]})
        if method == "POST" and not m["name"]:
            if body["name"] in variables:
                return self.reply(h, 409, {"message": "Already exists"})
            variables[body["name"]] = body["value"]
            return self.reply(h, 201, {})
        if method == "PATCH" and m["name"] in variables:
            variables[m["name"]] = body["value"]
            return self.reply(h, 204, None)
        return self.reply(h, 405, {"message": "unexpected"})

    @staticmethod
    def reply(h: BaseHTTPRequestHandler, status: int, data):
        payload = json.dumps(data).encode() if data is not None else b""
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)


@pytest.fixture
def github(monkeypatch):
    fake = FakeGithub()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            fake.handle(self, "GET")

        def do_POST(self):
            fake.handle(self, "POST")

        def do_PATCH(self):
            fake.handle(self, "PATCH")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.delenv("GITHUB_API_URL", raising=False)
    yield fake
    server.shutdown()


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "runnerkit.yaml"
    path.write_text(SPEC)
    return path


def calls(fake) -> list[tuple]:
    return [(r["method"], r["path"], r["body"]) for r in fake.requests]


def test_creates_repository_variables_with_githubs_headers(github, spec):
    github.store[("example-org/mobile", None)] = {}
    r = run_cli("github", "push-variables", "mobile", spec, "--api-url", github.url)
    assert r.code == 0, r
    base = "/repos/example-org/mobile/actions/variables"
    assert calls(github) == [
        ("GET", f"{base}/KUBE_NAMESPACE", None),
        ("POST", base, {"name": "KUBE_NAMESPACE", "value": "mobile"}),
        ("GET", f"{base}/KUBE_SERVICE_ACCOUNT", None),
        ("POST", base, {"name": "KUBE_SERVICE_ACCOUNT", "value": "mobile-ci"}),
    ]
    for req in github.requests:
        assert req["headers"]["Accept"] == "application/vnd.github+json"
        assert req["headers"]["X-GitHub-Api-Version"] == "2022-11-28"
        assert req["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert github.store[("example-org/mobile", None)] == {"KUBE_NAMESPACE": "mobile",
                                                           "KUBE_SERVICE_ACCOUNT": "mobile-ci"}
    assert "KUBE_NAMESPACE='mobile' created" in r.out
    assert TOKEN not in r.out + r.err


def test_updates_changed_and_leaves_equal_values_alone(github, spec):
    github.store[("example-org/mobile", None)] = {"KUBE_NAMESPACE": "old", "KUBE_SERVICE_ACCOUNT": "mobile-ci"}
    r = run_cli("github", "push-variables", "mobile", spec, "--api-url", github.url, "--set", "kube_context=prod")
    assert r.code == 0, r
    base = "/repos/example-org/mobile/actions/variables"
    assert calls(github) == [
        ("GET", f"{base}/KUBE_NAMESPACE", None),
        ("PATCH", f"{base}/KUBE_NAMESPACE", {"name": "KUBE_NAMESPACE", "value": "mobile"}),
        ("GET", f"{base}/KUBE_SERVICE_ACCOUNT", None),
        ("GET", f"{base}/KUBE_CONTEXT", None),
        ("POST", base, {"name": "KUBE_CONTEXT", "value": "prod"}),
    ]
    assert "updated (was 'old')" in r.out and "KUBE_SERVICE_ACCOUNT='mobile-ci' unchanged" in r.out
    github.requests.clear()
    assert run_cli("github", "push-variables", "mobile", spec, "--api-url", github.url,
                   "--set", "KUBE_CONTEXT=prod").code == 0
    assert {m for m, _, _ in calls(github)} == {"GET"}  # second run writes nothing


def test_environment_variables_use_the_environment_path(github, spec):
    github.store[("example-org/app", "prod env")] = {"KUBE_NAMESPACE": "app-prod"}
    r = run_cli("github", "push-variables", "app", spec, "--api-url", github.url, "-o", "json")
    assert r.code == 0, r
    base = "/repos/example-org/app/environments/prod%20env/variables"
    assert calls(github) == [
        ("GET", f"{base}/KUBE_NAMESPACE", None),
        ("GET", f"{base}/KUBE_SERVICE_ACCOUNT", None),
        ("POST", base, {"name": "KUBE_SERVICE_ACCOUNT", "value": "app-ci"}),
    ]
    out = json.loads(r.out)
    assert out["environment"] == "prod env"
    assert [v["action"] for v in out["variables"]] == ["unchanged", "create"]


def test_repository_level_overrides_the_project_environment(github, spec):
    github.store[("example-org/app", None)] = {}
    assert run_cli("github", "push-variables", "app", spec, "--api-url", github.url, "--repository-level").code == 0
    assert all("/actions/variables" in p for _, p, _ in calls(github))


def test_dry_run_only_reads(github, spec):
    github.store[("example-org/mobile", None)] = {"KUBE_NAMESPACE": "old"}
    r = run_cli("github", "push-variables", "mobile", spec, "--api-url", github.url, "--dry-run")
    assert r.code == 0, r
    assert {m for m, _, _ in calls(github)} == {"GET"}
    assert "would be updated (was 'old')" in r.out and "would be created" in r.out
    assert github.store[("example-org/mobile", None)] == {"KUBE_NAMESPACE": "old"}


def test_enterprise_server_api_prefix(github, spec):
    github.store[("example-org/mobile", None)] = {}
    r = run_cli("github", "push-variables", "mobile", spec, "--api-url", github.url + "/api/v3/")
    assert r.code == 0, r
    assert all(p.startswith("/api/v3/repos/example-org/mobile/") for _, p, _ in calls(github))


def test_api_url_defaults_to_github_api_url_env(github, spec, monkeypatch):
    monkeypatch.setenv("GITHUB_API_URL", github.url + "/api/v3")
    github.store[("example-org/mobile", None)] = {}
    assert run_cli("github", "push-variables", "mobile", spec).code == 0
    assert calls(github) and all(p.startswith("/api/v3/") for _, p, _ in calls(github))


def test_rejected_token_is_an_api_error_that_never_shows_the_token(github, spec):
    github.status_override = 401
    r = run_cli("github", "push-variables", "mobile", spec, "--api-url", github.url)
    assert r.code == 3 and "GitHub rejected GITHUB_TOKEN (401" in r.err
    assert TOKEN not in r.out + r.err
    github.status_override = 403
    r = run_cli("github", "push-variables", "mobile", spec, "--api-url", github.url)
    assert r.code == 3 and "repo scope" in r.err and "'Variables'" in r.err and TOKEN not in r.err


def test_missing_environment_says_create_it(github, spec):
    github.store[("example-org/app", None)] = {}  # the repository exists, its environment does not
    r = run_cli("github", "push-variables", "app", spec, "--api-url", github.url)
    assert r.code == 3 and "environment does not exist" in r.err
    assert [m for m, _, _ in calls(github)] == ["GET", "POST"]


def test_input_errors_send_nothing(github, spec, monkeypatch):
    r = run_cli("github", "push-variables", "norepo", spec, "--api-url", github.url)
    assert r.code == 2 and "github.repository" in r.err and "--repository OWNER/REPO" in r.err
    r = run_cli("github", "push-variables", "mobile", spec, "--api-url", github.url, "--set", "GITHUB_X=1")
    assert r.code == 2 and "reserves" in r.err
    r = run_cli("github", "push-variables", "mobile", spec, "--api-url", github.url, "--set", "1BAD=1")
    assert r.code == 2
    monkeypatch.delenv("GITHUB_TOKEN")
    r = run_cli("github", "push-variables", "mobile", spec, "--api-url", github.url)
    assert r.code == 2 and "GITHUB_TOKEN is not set" in r.err
    assert github.requests == []


def test_unreachable_api():
    api = gh.GithubApi(TOKEN, "http://127.0.0.1:9")
    assert TOKEN not in repr(api)
    with pytest.raises(Unreachable, match="cannot reach the GitHub API"):
        api.get_variable("o/r", "X")


def test_paths_quote_names():
    assert gh.variables_path("o/r") == "/repos/o/r/actions/variables"
    assert gh.variables_path("o/r", "a/b c") == "/repos/o/r/environments/a%2Fb%20c/variables"
