"""Secrets on the wire and the retry policy, against stand-in GitLab/GitHub servers on 127.0.0.1."""

from __future__ import annotations

import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import run_cli
from runnerkit.errors import ApiError, InputError
from runnerkit.model.retry import Policy, parse_retry_after
from runnerkit.cluster.saas_http import check_url

GITLAB_TOKEN = "glpat-wire-secret-0123456789"
GITHUB_TOKEN = "ghp_wiresecret0123456789abcdefABCDEF"


SPEC = """apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata: {name: wire}
runners:
  - {name: gl, type: gitlab, namespace: gitlab-runner}
  - {name: arc, type: github, namespace: arc}
projects:
  - {name: web, runner: gl}
  - {name: mob, runner: arc, github: {repository: acme/mob}}
"""


class Stand:
    """A scripted HTTP server: `script` maps a request number to (status, headers, body)."""

    def __init__(self, script=None):
        self.requests: list[dict] = []
        self.script = script or (lambda n, path: (200, {}, {}))
        stand = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def handle_one(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                stand.requests.append({"method": self.command, "path": self.path,
                                       "headers": dict(self.headers), "body": body})
                status, headers, payload = stand.script(len(stand.requests), self.path)
                data = json.dumps(payload).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = handle_one

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def stands():
    made = []

    def make(script=None):
        made.append(Stand(script))
        return made[-1]
    yield make
    for s in made:
        s.close()


@pytest.fixture
def spec_file(tmp_path, monkeypatch):
    path = tmp_path / "runnerkit.yaml"
    path.write_text(SPEC)
    monkeypatch.setenv("GITLAB_TOKEN", GITLAB_TOKEN)
    monkeypatch.setenv("GITHUB_TOKEN", GITHUB_TOKEN)
    monkeypatch.setenv("RUNNERKIT_TIMEOUT", "5")
    return path


@pytest.mark.parametrize("url,ok", [
    ("https://gitlab.example.com", True), ("http://127.0.0.1:8080", True), ("http://localhost", True),
    ("http://[::1]:9", True), ("http://gitlab.example.com", False), ("http://10.0.0.1", False),
    ("ftp://gitlab.example.com", False), ("gitlab.example.com", False), ("https://", False),
])
def test_plain_http_is_refused_except_on_loopback(url, ok):
    if ok:
        assert check_url(url, "--gitlab-url") == url
    else:
        with pytest.raises(InputError, match="--gitlab-url"):
            check_url(url, "--gitlab-url")
    assert check_url("http://gitlab.example.com", "--x", insecure_http=True)


def test_http_gitlab_url_is_refused_before_any_request(spec_file):
    r = run_cli("gitlab", "push-variables", "web", spec_file, "--gitlab-url", "http://gitlab.example.com",
                "--project", "1")
    assert r.code == 2 and "clear text" in r.err and "--insecure-http" in r.err
    assert GITLAB_TOKEN not in r.out + r.err


def redirecting(target_url):
    return lambda n, path: (302, {"Location": target_url + path}, {})


def test_gitlab_token_is_not_sent_to_another_host_on_redirect(spec_file, stands):
    other = stands(lambda n, path: (200, {}, {"id": 1}))
    # 127.0.0.1 -> localhost is another host to requests (and to a browser)
    first = stands(redirecting(other.url.replace("127.0.0.1", "localhost")))
    r = run_cli("gitlab", "push-variables", "web", spec_file, "--gitlab-url", first.url, "--project", "1",
                "--dry-run")
    assert first.requests and first.requests[0]["headers"].get("PRIVATE-TOKEN") == GITLAB_TOKEN
    assert other.requests, "the redirect was followed"
    for request in other.requests:
        assert "PRIVATE-TOKEN" not in request["headers"] and "Authorization" not in request["headers"]
    assert GITLAB_TOKEN not in r.out + r.err


def test_github_token_is_not_sent_to_another_host_on_redirect(spec_file, stands):
    other = stands(lambda n, path: (404, {}, {"message": "Not Found"}))
    first = stands(redirecting(other.url.replace("127.0.0.1", "localhost")))
    r = run_cli("github", "push-variables", "mob", spec_file, "--api-url", first.url, "--dry-run")
    assert first.requests[0]["headers"]["Authorization"] == f"Bearer {GITHUB_TOKEN}"
    assert other.requests and all("Authorization" not in q["headers"] for q in other.requests)
    assert GITHUB_TOKEN not in r.out + r.err


def test_same_host_redirect_keeps_the_token(spec_file, stands):
    def script(n, path):
        if path.startswith("/old"):
            return 301, {"Location": path[len("/old"):]}, {}
        return 200, {}, {"id": 1}
    stand = stands(script)
    r = run_cli("gitlab", "push-variables", "web", spec_file, "--gitlab-url", stand.url + "/old", "--project",
                "1", "--dry-run", "-o", "json")
    assert r.code == 0, r
    assert all(q["headers"].get("PRIVATE-TOKEN") == GITLAB_TOKEN for q in stand.requests)


def test_429_and_503_are_retried_honouring_retry_after(spec_file, stands):
    def script(n, path):
        if n == 1:
            return 429, {"Retry-After": "0"}, {"message": "slow down"}
        if n == 2:
            return 503, {}, {"message": "unavailable"}
        return (200, {}, {"id": 1}) if path.endswith("/projects/1") else (404, {}, {"message": "404 Not Found"})
    stand = stands(script)
    r = run_cli("gitlab", "push-variables", "web", spec_file, "--gitlab-url", stand.url, "--project", "1",
                "--dry-run")
    assert r.code == 0, r
    assert [q["path"].split("?")[0] for q in stand.requests[:3]] == ["/api/v4/projects/1"] * 3


def test_other_4xx_are_never_retried(spec_file, stands):
    stand = stands(lambda n, path: (403, {}, {"message": "403 Forbidden"}))
    r = run_cli("gitlab", "push-variables", "web", spec_file, "--gitlab-url", stand.url, "--project", "1")
    assert r.code == 3 and len(stand.requests) == 1
    assert len(r.err.strip().splitlines()) == 1 and GITLAB_TOKEN not in r.err


def test_a_storm_ends_in_one_line_within_the_deadline(spec_file, stands):
    stand = stands(lambda n, path: (503, {}, {"message": "down"}))
    r = run_cli("--timeout", "2", "gitlab", "push-variables", "web", spec_file, "--gitlab-url", stand.url,
                "--project", "1")
    assert r.code == 3 and "HTTP 503" in r.err and len(r.err.strip().splitlines()) == 1, r
    assert 2 <= len(stand.requests) <= 8


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def test_backoff_is_capped_exponential_with_jitter_within_the_deadline():
    fake = FakeClock()
    policy = Policy(deadline=20, clock=fake.clock, sleep=fake.sleep, rng=random.Random(1), attempts=50)
    attempts = policy.start()
    while attempts.wait():
        pass
    assert all(0 <= s <= 5 for s in fake.slept)
    assert all(s <= 0.2 * 2 ** i for i, s in enumerate(fake.slept))
    assert fake.now <= 20 and sum(fake.slept) > 5  # it kept trying until the deadline neared


def test_retry_after_is_honoured_and_capped():
    fake = FakeClock()
    attempts = Policy(deadline=60, clock=fake.clock, sleep=fake.sleep).start()
    assert attempts.wait("2") and fake.slept == [2.0]
    assert attempts.wait("3600") and fake.slept[-1] == 5.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("soon") is None


def test_kubernetes_client_retries_503_then_reports_one_error(monkeypatch):
    from runnerkit.cluster.client import KubeClient as Client

    calls = []

    class Transport:
        host = "https://k8s.test"
        ca = None

        def exchange(self, method, target, payload, content_type, extra, seconds):
            calls.append(target)
            return (503, b'{"message":"etcd leader changed"}', "0") if len(calls) < 3 else (200, b'{"ok":1}', None)

    client = Client.__new__(Client)
    client.__init__.__func__  # noqa: B018 - constructed by hand below: no kubeconfig needed
    client._transport, client.host, client.requests = Transport(), "https://k8s.test", []
    client._lock, client._extra_headers, client.concurrency = threading.Lock(), {}, 1
    client.retry = Policy(deadline=5)
    assert client.request("GET", "/api/v1") == {"ok": 1} and len(calls) == 3
    calls.clear()
    Transport.exchange = lambda self, *a: (calls.append(1), (404, b'{"message":"nope"}', None))[1]
    with pytest.raises(ApiError):
        client.request("GET", "/api/v1/x")
    assert len(calls) == 1
