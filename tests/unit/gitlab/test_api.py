"""push-variables against a local stand-in for the few GitLab REST endpoints it uses."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from conftest import run_cli
from runnerkit.cli.common import example_text
from runnerkit.gitlab.api import GitlabClient, api_base, encode_project

TOKEN = "glpat-s3cr3t-token-value"
READ_ONLY_TOKEN = "glpat-read-only-token"
PROJECTS = {"4211": "platform/web-app"}  # id -> path


class FakeGitlab:
    """Records every request; keeps variables per (project id, key, environment scope)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.variables: dict[tuple[str, str, str], dict] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                fake.handle(self, "GET")

            def do_POST(self):
                fake.handle(self, "POST")

            def do_PUT(self):
                fake.handle(self, "PUT")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        body = json.loads(h.rfile.read(length)) if length else None
        self.requests.append({"method": method, "path": parts.path, "query": parse_qs(parts.query),
                              "headers": dict(h.headers), "body": body})
        token = h.headers.get("PRIVATE-TOKEN")
        if token not in (TOKEN, READ_ONLY_TOKEN):
            return self.reply(h, 401, {"message": "401 Unauthorized"})
        segments = parts.path.split("/")  # ['', 'api', 'v4', 'projects', ID, 'variables', KEY]
        if segments[:4] != ["", "api", "v4", "projects"] or len(segments) < 5:
            return self.reply(h, 404, {"error": "404 Not Found"})
        project = unquote(segments[4])
        pid = next((i for i, p in PROJECTS.items() if project in (i, p)), None)
        if pid is None:
            return self.reply(h, 404, {"message": "404 Project Not Found"})
        if len(segments) == 5:
            return self.reply(h, 200, {"id": int(pid), "path_with_namespace": PROJECTS[pid]})
        if method != "GET" and token == READ_ONLY_TOKEN:
            return self.reply(h, 403, {"message": "403 Forbidden"})
        scope = (parse_qs(parts.query).get("filter[environment_scope]") or ["*"])[0]
        if method == "POST":
            var = {"variable_type": "env_var", "protected": False, "masked": False, **body}
            self.variables[(pid, body["key"], body.get("environment_scope", "*"))] = var
            return self.reply(h, 201, var)
        key = unquote(segments[6])
        var = self.variables.get((pid, key, scope))
        if var is None:
            return self.reply(h, 404, {"message": "404 Variable Not Found"})
        if method == "PUT":
            var.update(body)
        return self.reply(h, 200, var)

    @staticmethod
    def reply(h: BaseHTTPRequestHandler, status: int, data: dict) -> None:
        payload = json.dumps(data).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)

    def calls(self) -> list[tuple[str, str]]:
        return [(r["method"], r["path"]) for r in self.requests]


@pytest.fixture
def gitlab():
    fake = FakeGitlab()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "runnerkit.yaml"
    path.write_text(example_text().replace("projectIds: [4211]", "projectIds: [4211]\n      project: platform/web-app"))
    return path


@pytest.fixture
def token(monkeypatch):
    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
    monkeypatch.delenv("GITLAB_URL", raising=False)
    monkeypatch.delenv("CI_SERVER_URL", raising=False)


BY_PATH = "/api/v4/projects/platform%2Fweb-app"
NS_VAR, SA_VAR = "KUBERNETES_NAMESPACE_OVERWRITE", "KUBERNETES_SERVICE_ACCOUNT_OVERWRITE"


def push(gitlab, spec_file, *extra):
    run = run_cli("gitlab", "push-variables", "web-app", spec_file, "--gitlab-url", gitlab.url, *extra)
    assert TOKEN not in run.out + run.err
    return run


def test_creates_both_variables_with_exact_requests(gitlab, spec_file, token):
    run = push(gitlab, spec_file)
    assert run.code == 0, run
    assert gitlab.calls() == [("GET", BY_PATH), ("GET", f"{BY_PATH}/variables/{NS_VAR}"),
                              ("POST", f"{BY_PATH}/variables"), ("GET", f"{BY_PATH}/variables/{SA_VAR}"),
                              ("POST", f"{BY_PATH}/variables")]
    for r in gitlab.requests:
        assert r["headers"]["PRIVATE-TOKEN"] == TOKEN
        assert "Authorization" not in r["headers"]
    gets = [r for r in gitlab.requests if r["method"] == "GET" and "/variables/" in r["path"]]
    assert all(r["query"] == {"filter[environment_scope]": ["*"]} for r in gets)
    posts = [r["body"] for r in gitlab.requests if r["method"] == "POST"]
    assert posts == [
        {"key": NS_VAR, "value": "web-app", "variable_type": "env_var", "environment_scope": "*",
         "protected": False, "masked": False, "raw": True},
        {"key": SA_VAR, "value": "web-app-ci", "variable_type": "env_var", "environment_scope": "*",
         "protected": False, "masked": False, "raw": True}]
    assert [r["headers"]["Content-Type"] for r in gitlab.requests if r["method"] == "POST"] == \
        ["application/json"] * 2
    assert f"platform/web-app: {NS_VAR}=web-app (environment scope *) created" in run.out


def test_second_run_reads_only(gitlab, spec_file, token):
    assert push(gitlab, spec_file).code == 0
    del gitlab.requests[:]
    run = push(gitlab, spec_file)
    assert run.code == 0
    assert [m for m, _ in gitlab.calls()] == ["GET", "GET", "GET"]
    assert run.out.count(" unchanged") == 2


def test_changed_value_is_updated_with_put_scoped_by_environment(gitlab, spec_file, token):
    gitlab.variables[("4211", NS_VAR, "production")] = {"key": NS_VAR, "value": "old", "variable_type": "env_var",
                                                         "environment_scope": "production"}
    run = push(gitlab, spec_file, "--environment-scope", "production", "--project", "4211")
    assert run.code == 0, run
    put = [r for r in gitlab.requests if r["method"] == "PUT"]
    assert [(r["path"], r["query"], r["body"]) for r in put] == [
        (f"/api/v4/projects/4211/variables/{NS_VAR}", {"filter[environment_scope]": ["production"]},
         {"value": "web-app", "variable_type": "env_var", "environment_scope": "production", "raw": True})]
    post = [r["body"]["key"] for r in gitlab.requests if r["method"] == "POST"]
    assert post == [SA_VAR]
    assert gitlab.variables[("4211", NS_VAR, "production")]["value"] == "web-app"


def test_dry_run_writes_nothing(gitlab, spec_file, token):
    run = push(gitlab, spec_file, "--dry-run", "-o", "json")
    assert run.code == 0, run
    assert {m for m, _ in gitlab.calls()} == {"GET"}
    assert json.loads(run.out) == {"project": "platform/web-app", "dryRun": True, "variables": [
        {"key": NS_VAR, "action": "created", "environmentScope": "*"},
        {"key": SA_VAR, "action": "created", "environmentScope": "*"}]}
    assert gitlab.variables == {}


def test_bad_token_is_a_clear_401(gitlab, spec_file, monkeypatch):
    monkeypatch.setenv("GITLAB_TOKEN", "glpat-wrong")
    run = push(gitlab, spec_file)
    assert run.code == 3
    assert "GitLab rejected the token (401 Unauthorized)" in run.err and "GITLAB_TOKEN" in run.err
    assert "glpat-wrong" not in run.out + run.err
    assert gitlab.calls() == [("GET", BY_PATH)]


def test_missing_rights_is_a_clear_403(gitlab, spec_file, monkeypatch):
    monkeypatch.setenv("GITLAB_TOKEN", READ_ONLY_TOKEN)
    run = push(gitlab, spec_file)
    assert run.code == 3
    assert "403 Forbidden" in run.err and "Maintainer role" in run.err
    assert READ_ONLY_TOKEN not in run.out + run.err


def test_unknown_project_is_a_clear_404(gitlab, spec_file, token):
    run = push(gitlab, spec_file, "--project", "platform/nope")
    assert run.code == 3
    assert "404 Project Not Found" in run.err and "the project does not exist" in run.err
    assert gitlab.calls() == [("GET", "/api/v4/projects/platform%2Fnope")]


def test_token_only_from_the_environment(gitlab, spec_file, monkeypatch):
    monkeypatch.delenv("GITLAB_TOKEN", raising=False)
    run = push(gitlab, spec_file)
    assert run.code == 2 and "GITLAB_TOKEN is not set: export a GitLab access token" in run.err
    assert gitlab.requests == []
    assert "--token" not in run_cli("gitlab", "push-variables", "--help").out


def test_project_needs_a_gitlab_project(gitlab, tmp_path, token):
    spec = tmp_path / "runnerkit.yaml"
    spec.write_text(example_text())
    run = run_cli("gitlab", "push-variables", "cicd", spec, "--gitlab-url", gitlab.url)
    assert run.code == 2 and "it has 2 projectIds, so say which" in run.err and "--project" in run.err
    run = run_cli("gitlab", "push-variables", "mobile", spec, "--gitlab-url", gitlab.url)
    assert run.code == 2 and "not gitlab" in run.err
    assert gitlab.requests == []


def test_a_single_project_id_names_the_gitlab_project(gitlab, tmp_path, token):
    spec = tmp_path / "runnerkit.yaml"
    spec.write_text(example_text())  # web-app: projectIds: [4211] and no gitlab.project
    run = run_cli("gitlab", "push-variables", "web-app", spec, "--gitlab-url", gitlab.url)
    assert run.code == 0, run
    assert gitlab.calls()[0] == ("GET", "/api/v4/projects/4211")
    assert {path for method, path in gitlab.calls() if method == "POST"} == {"/api/v4/projects/4211/variables"}
    assert f"4211: {NS_VAR}=web-app (environment scope *) created" in run.out


def test_unreachable_gitlab(spec_file, token):
    run = run_cli("gitlab", "push-variables", "web-app", spec_file, "--gitlab-url", "http://127.0.0.1:9")
    assert run.code == 3 and "cannot reach GitLab" in run.err


def test_helpers():
    assert encode_project("platform/sub/web-app") == "platform%2Fsub%2Fweb-app"
    assert encode_project("4211") == "4211"
    assert api_base("https://gitlab.example.com/") == "https://gitlab.example.com/api/v4"
    assert api_base("https://example.com/gitlab/api/v4/") == "https://example.com/gitlab/api/v4"
    assert TOKEN not in repr(GitlabClient("https://gitlab.example.com", TOKEN))


def test_bad_gitlab_url(spec_file, token):
    run = run_cli("gitlab", "push-variables", "web-app", spec_file, "--gitlab-url", "gitlab.example.com")
    assert run.code == 2 and "must be the GitLab address, e.g. https://gitlab.example.com" in run.err
    run = run_cli("gitlab", "push-variables", "web-app", spec_file)
    assert run.code == 2 and "--gitlab-url" in run.err
