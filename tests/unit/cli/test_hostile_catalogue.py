"""A catalogue of bad input: every case is one error line naming the file (and field), the documented
exit code, no traceback and no token in any output, --debug included (there, masked)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import run_cli

JWT = ("eyJhbGciOiJSUzI1NiIsImtpZCI6ImNhdGFsb2d1ZSJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6d2ViOndlYi1jaSJ9"
       ".c2lnbmF0dXJlLW9mLXRoZS1jYXRhbG9ndWUtdG9rZW4")
GITLAB_TOKEN = "glpat-catalogue-secret-0123"
GITHUB_TOKEN = "ghp_CatalogueSecret0123456789abcdefXYZ"
SECRETS = (JWT, JWT.split(".")[2], GITLAB_TOKEN, GITHUB_TOKEN)

HEAD = """apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata: {name: cat}
runners:
  - {name: gl, type: gitlab, namespace: gitlab-runner}
  - {name: arc, type: github, namespace: arc}
"""
GOOD = HEAD + """projects:
  - {name: web, runner: gl, gitlab: {project: acme/web}}
  - {name: mob, runner: arc, github: {repository: acme/mob}}
"""


def project(body: str) -> str:
    return HEAD + "projects:\n  - " + body + "\n"


# (id, spec text, text the one error line must contain)
SPEC_CASES = [
    ("not-yaml", "a: [1, 2\n", "not valid YAML"),
    ("empty", "", "the file is empty"),
    ("a-list", "- 1\n- 2\n", "must be a mapping"),
    ("a-scalar", "hello\n", "must be a mapping"),
    ("alias", GOOD + "x: &a [1]\ny: *a\n", "anchors and aliases"),
    ("merge-key", GOOD.replace("metadata: {name: cat}", "metadata: {<<: {name: cat}}"), "merge keys"),
    ("duplicate-key", GOOD + "kind: RunnerkitConfig\n", "given twice"),
    ("deep-flow", "a: " + "[" * 300 + "]" * 300 + "\n", "nested more than 64"),
    ("deep-block", "".join(" " * i + "k:\n" for i in range(100)), "nested more than 64"),
    ("wrong-apiversion", GOOD.replace("runnerkit.io/v1alpha1", "v2"), "apiVersion"),
    ("wrong-kind", GOOD.replace("kind: RunnerkitConfig", "kind: Nope"), "kind"),
    ("unknown-top-key", GOOD + "projcts: []\n", "projcts"),
    ("defaults-list", GOOD + "defaults: []\n", "defaults must be a mapping"),
    ("defaults-scalar", GOOD + "defaults: 3\n", "defaults must be a mapping"),
    ("metadata-name-bad", GOOD.replace("{name: cat}", "{name: Cat_}"), "metadata.name"),
    ("project-name-bad", project("{name: Web!, runner: gl}"), "projects[0].name"),
    ("project-name-long", project("{name: " + "a" * 64 + ", runner: gl}"), "projects[0].name"),
    ("no-runner", project("{name: web, runner: nope}"), "runner 'nope' is not declared"),
    ("ns-kube-system", project("{name: web, runner: gl, namespace: kube-system}"), "system namespace"),
    ("ns-kube-public", project("{name: web, runner: gl, namespace: kube-public}"), "system namespace"),
    ("ns-default", project("{name: web, runner: gl, namespace: default}"), "allowDefaultNamespace"),
    ("target-kube-system", project("{name: web, runner: gl, access: [{preset: viewer, namespaces: [kube-system]}]}"),
     "system namespace"),
    ("target-default", project("{name: web, runner: gl, access: [{preset: viewer, namespaces: [default]}]}"),
     "allowDefaultNamespace"),
    ("allow-default-not-bool", project("{name: web, runner: gl, allowDefaultNamespace: yes-please}"),
     "allowDefaultNamespace"),
    ("adopt-not-bool", project("{name: web, runner: gl, adoptNamespace: 1}"), "adoptNamespace"),
    ("star-exec", project("{name: web, runner: gl, access: [{rules: [{apiGroups: [''], resources: ['*/exec'], verbs: [get]}]}]}"),
     "wildcard"),
    ("pods-star", project("{name: web, runner: gl, access: [{rules: [{apiGroups: [''], resources: ['pods/*'], verbs: [get]}]}]}"),
     "wildcard"),
    ("star-resource", project("{name: web, runner: gl, access: [{rules: [{apiGroups: [''], resources: ['*'], verbs: [get]}]}]}"),
     "wildcard"),
    ("star-verb", project("{name: web, runner: gl, access: [{rules: [{apiGroups: [''], resources: [pods], verbs: ['*']}]}]}"),
     "wildcard"),
    ("star-group", project("{name: web, runner: gl, access: [{rules: [{apiGroups: ['*'], resources: [pods], verbs: [get]}]}]}"),
     "wildcard"),
    ("nodes-status", project("{name: web, runner: gl, access: [{rules: [{apiGroups: [''], resources: [nodes/status], verbs: [get]}]}]}"),
     "cluster-scoped nodes/status"),
    ("namespaces-finalize", project("{name: web, runner: gl, access: [{rules: [{apiGroups: [''], resources: [namespaces/finalize], verbs: [update]}]}]}"),
     "cluster-scoped"),
    ("bad-verb", project("{name: web, runner: gl, access: [{rules: [{apiGroups: [''], resources: [pods], verbs: [gett]}]}]}"),
     "not a Kubernetes verb"),
    ("no-apigroups", project("{name: web, runner: gl, access: [{rules: [{resources: [pods], verbs: [get]}]}]}"),
     "apiGroups"),
    ("unknown-preset", project("{name: web, runner: gl, access: [{preset: god-mode}]}"), "not a known preset"),
    ("two-forms", project("{name: web, runner: gl, access: [{preset: viewer, clusterRole: edit}]}"), "exactly one"),
    ("cluster-admin", project("{name: web, runner: gl, access: [{clusterRole: cluster-admin}]}"), "allowClusterAdmin"),
    ("grant-not-mapping", project("{name: web, runner: gl, access: [viewer]}"), "must be a mapping"),
    ("access-not-list", project("{name: web, runner: gl, access: {preset: viewer}}"), "must be a list"),
    ("repo-dotdot", project("{name: web, runner: arc, github: {repository: ../orgs}}"), "github.repository"),
    ("repo-three-parts", project("{name: web, runner: arc, github: {repository: a/b/c}}"), "github.repository"),
    ("repo-no-slash", project("{name: web, runner: arc, github: {repository: acme}}"), "github.repository"),
    ("repo-space", project("{name: web, runner: arc, github: {repository: 'ac me/web'}}"), "github.repository"),
    ("repo-number", project("{name: web, runner: arc, github: {repository: 42}}"), "github.repository"),
    ("group-slash", project("{name: web, runner: gl, gitlab: {groups: ['/']}}"), "gitlab.groups[0]"),
    ("group-empty", project("{name: web, runner: gl, gitlab: {groups: ['']}}"), "gitlab.groups"),
    ("group-double-slash", project("{name: web, runner: gl, gitlab: {groups: ['a//b']}}"), "gitlab.groups[0]"),
    ("group-dotdot", project("{name: web, runner: gl, gitlab: {groups: ['a/..']}}"), "gitlab.groups[0]"),
    ("group-space", project("{name: web, runner: gl, gitlab: {groups: ['my group']}}"), "gitlab.groups[0]"),
    ("gitlab-project-bad", project("{name: web, runner: gl, gitlab: {project: 'a//b'}}"), "gitlab.project"),
    ("project-id-negative", project("{name: web, runner: gl, gitlab: {projectIds: [-1]}}"), "projectIds[0]"),
    ("quota-junk", project("{name: web, runner: gl, resourceQuota: {hard: {pods: lots}}}"), "resourceQuota.hard.pods"),
    ("quota-unit", project("{name: web, runner: gl, resourceQuota: {hard: {requests.memory: 8GB}}}"),
     "not a Kubernetes quantity"),
    ("quota-bool", project("{name: web, runner: gl, resourceQuota: {hard: {pods: true}}}"), "quantity"),
    ("quota-scope", project("{name: web, runner: gl, resourceQuota: {hard: {pods: 2}, scopes: [Nope]}}"),
     "resourceQuota.scopes"),
    ("quota-hard-list", project("{name: web, runner: gl, resourceQuota: {hard: [1]}}"), "resourceQuota.hard"),
    ("limit-type", project("{name: web, runner: gl, limitRange: {limits: [{type: Node}]}}"), "limitRange.limits[0].type"),
    ("limit-quantity", project("{name: web, runner: gl, limitRange: {limits: [{type: Container, max: {cpu: fast}}]}}"),
     "limitRange.limits[0].max.cpu"),
    ("limit-empty", project("{name: web, runner: gl, limitRange: {limits: []}}"), "limitRange.limits"),
    ("label-key-bad", project("{name: web, runner: gl, namespaceLabels: {'bad key': x}}"), "namespaceLabels"),
    ("label-value-long", project("{name: web, runner: gl, namespaceLabels: {team: " + "a" * 64 + "}}"),
     "not a valid label value"),
    ("label-value-number", project("{name: web, runner: gl, namespaceLabels: {team: 3}}"), "quote it"),
    ("annotations-huge", project("{name: web, runner: gl, namespaceAnnotations: {big: '" + "x" * (300 * 1024) + "'}}"),
     "256 KiB"),
    ("sa-annotations-huge", project("{name: web, runner: gl, serviceAccountAnnotations: {big: '" + "x" * (300 * 1024) + "'}}"),
     "serviceAccountAnnotations"),
    ("automount-string", project("{name: web, runner: gl, automountServiceAccountToken: 'no'}"),
     "automountServiceAccountToken"),
    ("runner-type", HEAD.replace("type: github", "type: jenkins") + "projects: []\n", "runners[1].type"),
    ("duplicate-project", GOOD + "  - {name: web, runner: gl, namespace: other}\n", "repeats project"),
]


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GITLAB_TOKEN", GITLAB_TOKEN)
    monkeypatch.setenv("GITHUB_TOKEN", GITHUB_TOKEN)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RUNNERKIT_SA_DIR", str(tmp_path / "no-pod"))
    monkeypatch.setenv("RUNNERKIT_TIMEOUT", "3")
    for var in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "GITHUB_ENV", "RUNNER_TEMP"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "runnerkit.yaml").write_text(GOOD)
    (tmp_path / "token").write_text(JWT + "\n")
    return tmp_path


def check(r, code: int, *needles: str) -> None:
    """The documented exit code, one error line holding every needle, no traceback, no secret."""
    output = r.out + r.err
    assert r.code == code, r
    assert "Traceback" not in output, r
    for secret in SECRETS:
        assert secret not in output, f"secret printed: {r}"
    errors = [line for line in r.err.splitlines() if line.startswith(("error:", "runnerkit", "internal error"))]
    errors = [line for line in errors if "error" in line]
    assert len(errors) == 1, r
    for needle in needles:
        assert needle in errors[0], (needle, r)


@pytest.mark.parametrize("name,text,needle", SPEC_CASES, ids=[c[0] for c in SPEC_CASES])
def test_bad_spec(env, name, text, needle):
    (env / "bad.yaml").write_text(text)
    r = run_cli("validate", "bad.yaml")
    check(r, 2, "bad.yaml", needle)


def kubeconfig_with(user: dict, server: str = "https://127.0.0.1:1") -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Config", "current-context": "c",
                       "clusters": [{"name": "k", "cluster": {"server": server}}],
                       "users": [{"name": "u", "user": user}],
                       "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]})


# (id, kubeconfig text or None for a directory, text the error must contain)
KUBECONFIG_CASES = [
    ("not-yaml", "clusters: [\n", "not valid YAML"),
    ("a-list", "- a\n- b\n", "must be a mapping"),
    ("a-scalar", "just text\n", "must be a mapping"),
    ("empty", "", "empty"),
    ("alias-bomb", "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n", "aliases"),
    ("deep", "a: " + "[" * 200 + "]" * 200, "nested"),
    ("clusters-not-list", "clusters: 3\n", "clusters must be a list"),
    ("user-not-mapping", json.dumps({"users": [{"name": "u", "user": "x"}]}), "users[0].user"),
    ("token-file-missing", kubeconfig_with({"tokenFile": "nope"}), "no such file"),
    ("token-file-dir", kubeconfig_with({"tokenFile": "."}), "is a directory"),
    ("token-file-binary", kubeconfig_with({"tokenFile": "binary"}), "not UTF-8"),
    ("token-file-two-lines", kubeconfig_with({"tokenFile": "two-lines"}), "more than one line"),
    ("token-file-empty", kubeconfig_with({"tokenFile": "empty-token"}), "is empty"),
    ("directory", None, "is a directory"),
    ("no-context", kubeconfig_with({"token": JWT}).replace('"current-context": "c"', '"current-context": "zz"'),
     "kubeconfig"),
]


@pytest.mark.parametrize("name,text,needle", KUBECONFIG_CASES, ids=[c[0] for c in KUBECONFIG_CASES])
@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_bad_kubeconfig(env, name, text, needle, debug):
    (env / "binary").write_bytes(b"\xff\xfe" + JWT.encode())
    (env / "two-lines").write_text(JWT + "\n" + JWT + "\n")
    (env / "empty-token").write_text("\n")
    if text is None:
        (env / "kc").mkdir()
    else:
        (env / "kc").write_text(text)
    r = run_cli(*(["--debug"] if debug else []), "diff", "runnerkit.yaml", "--kubeconfig", "kc")
    output = r.out + r.err
    assert r.code == 2, r
    for secret in SECRETS:
        assert secret not in output
    if debug:
        assert needle in r.err
    else:
        check(r, 2, needle)


def test_missing_kubeconfig_env_names_the_path(env, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(env / "missing" / "config"))
    check(run_cli("diff", "runnerkit.yaml"), 2, "KUBECONFIG=", str(env / "missing" / "config"))


# (id, argv, exit code, text the error line must contain)
FLAG_CASES = [
    ("concurrency-huge", ["apply", "runnerkit.yaml", "--concurrency", "1000000000"], 2, "between 1 and 256"),
    ("concurrency-zero", ["apply", "runnerkit.yaml", "--concurrency", "0"], 2, "between 1 and 256"),
    ("concurrency-text", ["apply", "runnerkit.yaml", "--concurrency", "lots"], 2, "not a whole number"),
    ("prune-namespaces-alone", ["apply", "runnerkit.yaml", "--prune-namespaces"], 2, "without --prune"),
    ("diff-prune-namespaces-alone", ["diff", "runnerkit.yaml", "--prune-namespaces"], 2, "without --prune"),
    ("apply-force-alone", ["apply", "runnerkit.yaml", "--force"], 2, "--force only matters"),
    ("delete-force-alone", ["delete", "runnerkit.yaml", "--force"], 2, "--force only matters"),
    ("timeout-zero", ["--timeout", "0", "validate"], 2, "between 1 and 3600"),
    ("timeout-text", ["--timeout", "soon", "validate"], 2, "not a number"),
    ("spec-missing", ["validate", "nope.yaml"], 2, "nope.yaml: no such file"),
    ("spec-directory", ["validate", "."], 2, "is a directory"),
    ("spec-binary", ["validate", "binary.yaml"], 2, "not UTF-8"),
    ("spec-huge", ["validate", "huge.yaml"], 2, "larger than the 5 MiB"),
    ("unknown-project", ["token", "nope", "runnerkit.yaml", "-o", "raw"], 2, "no project named 'nope'"),
    ("token-duration", ["token", "web", "runnerkit.yaml", "--duration", "5m", "-o", "raw"], 2, "--duration"),
    ("token-to-dir", ["token", "web", "runnerkit.yaml", "--to", "."], 2, "is a directory"),
    ("kubeconfig-to-dir", ["kubeconfig", "--to", ".", "--server", "https://k:6443", "--token-file", "token",
                           "--ca-file", "ca.crt", "--namespace", "web"], 2, "is a directory"),
    ("kubeconfig-token-binary", ["kubeconfig", "--to", "out/kc", "--server", "https://k:6443",
                                 "--token-file", "binary", "--ca-file", "ca.crt", "--namespace", "web"], 2, "not UTF-8"),
    ("kubeconfig-github-env-dir", ["kubeconfig", "--to", "out/kc", "--server", "https://k:6443", "--token-file",
                                   "token", "--ca-file", "ca.crt", "--namespace", "web", "--shell", "github"],
     2, "GITHUB_ENV"),
    ("kubeconfig-http-server", ["kubeconfig", "--to", "out/kc", "--server", "http://k:6443", "--token-file",
                                "token", "--ca-file", "ca.crt", "--namespace", "web"], 2, "https://"),
    ("gitlab-http", ["gitlab", "push-variables", "web", "runnerkit.yaml", "--gitlab-url", "http://gitlab.example.com"],
     2, "clear text"),
    ("github-http", ["github", "push-variables", "mob", "runnerkit.yaml", "--api-url", "http://api.example.com"],
     2, "clear text"),
    ("github-bad-repository", ["github", "push-variables", "mob", "runnerkit.yaml", "--repository", "../orgs"],
     2, "OWNER/REPO"),
    ("values-alias-bomb", ["gitlab", "configure-runner", "runnerkit.yaml", "--values-file", "bomb.yaml"], 2,
     "aliases"),
    ("values-directory", ["gitlab", "configure-runner", "runnerkit.yaml", "--values-file", "."], 2, "directory"),
    ("toml-directory", ["gitlab", "configure-runner", "runnerkit.yaml", "--file", "."], 2, "directory"),
    ("values-deep", ["gitlab", "configure-runner", "runnerkit.yaml", "--values-file", "deep.yaml"], 2, "nested"),
    ("unknown-command", ["frobnicate"], 2, "invalid choice"),
]


@pytest.mark.parametrize("name,argv,code,needle", FLAG_CASES, ids=[c[0] for c in FLAG_CASES])
def test_bad_flags_and_files(env, monkeypatch, name, argv, code, needle):
    (env / "binary.yaml").write_bytes(b"\xff\xfe\x00bad")
    (env / "binary").write_bytes(b"\xff\xfe" + JWT.encode())
    with open(env / "huge.yaml", "wb") as f:
        f.truncate(6 * 1024 * 1024)
    (env / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    (env / "bomb.yaml").write_text("a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8)))
    (env / "deep.yaml").write_text("runners: " + "[" * 100 + "]" * 100 + "\n")
    (env / "envdir").mkdir()
    monkeypatch.setenv("GITHUB_ENV", str(env / "envdir"))
    r = run_cli(*argv)
    check(r, code, needle)
    assert not (env / "out" / "kc").exists()  # nothing written before the refusal


class Api:
    """A stand-in GitLab/GitHub API answering every request with one scripted response."""

    def __init__(self, status: int, body: bytes, headers: dict | None = None):
        self.requests = 0
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self):
                api.requests += 1
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = reply

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


# (id, status, body, exit code, text the error line must contain)
API_CASES = [
    ("401", 401, b'{"message":"401 Unauthorized"}', 3, "401"),
    ("403", 403, b'{"message":"403 Forbidden"}', 3, "403"),
    ("404", 404, b'{"message":"404 Project Not Found"}', 3, "404"),
    ("422", 422, b'{"message":"bad"}', 3, "422"),
    ("500-storm", 500, b"oops", 3, "500"),
    ("echoes-the-token", 400, json.dumps({"message": f"bad token {GITLAB_TOKEN} / Bearer {GITHUB_TOKEN}"}).encode(),
     3, "400"),
    ("html", 400, b"<html>" + b"x" * 5000 + b"</html>", 3, "400"),
    ("not-json-200", 200, b"{not json", 3, "not JSON"),
]


@pytest.mark.parametrize("service", ["gitlab", "github"])
@pytest.mark.parametrize("name,status,body,code,needle", API_CASES, ids=[c[0] for c in API_CASES])
def test_api_errors(env, service, name, status, body, code, needle):
    api = Api(status, body, {"Retry-After": "0"})
    try:
        if service == "gitlab":
            argv = ["gitlab", "push-variables", "web", "runnerkit.yaml", "--gitlab-url", api.url]
        else:
            argv = ["github", "push-variables", "mob", "runnerkit.yaml", "--api-url", api.url]
        r = run_cli("--timeout", "2", *argv)
        check(r, code, needle)
        if status < 500 and status != 429:  # other 4xx are never retried
            # (GitHub: a 404 on reading a variable means "not there yet"; the create then fails)
            assert api.requests <= (2 if (service, status) == ("github", 404) else 1)
    finally:
        api.server.shutdown()
