"""runnerkit credential: the exec plugin's ExecCredential, GitHub's token request, GitLab's variable."""

from __future__ import annotations

import json
import time

import traceback

import pytest
import yaml

from conftest import run_cli
from oidc_issuer import GithubTokenEndpoint, Keys, github_claims, gitlab_claims
from runnerkit.model import oidc_credential as oc
from runnerkit.errors import InputError

AUD = "https://kubernetes.example.com"
KEYS = Keys()


@pytest.fixture
def endpoint(monkeypatch):
    ep = GithubTokenEndpoint(lambda: KEYS.sign(github_claims("https://token.actions.githubusercontent.com",
                                                             AUD, "acme/app")))
    for name, value in ep.vars.items():
        monkeypatch.setenv(name, value)
    yield ep
    ep.close()


def test_github_fetches_the_token_exactly_like_actions_core_and_prints_an_exec_credential(endpoint):
    before = time.time()
    result = run_cli("credential", "github", "--audience", AUD)
    assert result.code == 0, result
    assert endpoint.requests == [endpoint.expected_request(AUD)]
    assert endpoint.expected_request(AUD)[0].endswith("&audience=https%3A%2F%2Fkubernetes.example.com")
    assert endpoint.headers[0]["Accept"] == "application/json"
    cred = json.loads(result.out)
    assert cred["apiVersion"] == "client.authentication.k8s.io/v1" and cred["kind"] == "ExecCredential"
    assert cred["status"]["token"].count(".") == 2
    expires = time.mktime(time.strptime(cred["status"]["expirationTimestamp"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert before + 300 - 30 - 5 <= expires <= time.time() + 300 - 30 + 1  # exp minus the refresh margin
    assert result.err == ""


def test_github_without_id_token_permission_explains_the_fix(monkeypatch):
    monkeypatch.delenv("ACTIONS_ID_TOKEN_REQUEST_URL", raising=False)
    monkeypatch.delenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", raising=False)
    result = run_cli("credential", "github", "--audience", AUD)
    assert result.code == 2 and "permissions: id-token: write" in result.err and result.out == ""


def test_github_endpoint_refusal_is_an_api_error_without_any_token(endpoint):
    endpoint.status = 403
    result = run_cli("credential", "github", "--audience", AUD)
    assert result.code == 3 and "answered 403" in result.err
    assert endpoint.REQUEST_TOKEN not in result.err + result.out and endpoint.tokens == []


def test_gitlab_reads_the_id_tokens_variable(monkeypatch):
    token = KEYS.sign(gitlab_claims("https://gitlab.com", AUD, "acme/app"))
    monkeypatch.setenv("KUBE_ID_TOKEN", token)
    result = run_cli("credential", "gitlab", "--audience", AUD, "--variable", "KUBE_ID_TOKEN")
    assert result.code == 0, result
    assert json.loads(result.out)["status"]["token"] == token


@pytest.mark.parametrize("claims, expected", [
    (gitlab_claims("https://gitlab.com", "other", "acme/app"), "is for audience other, not"),
    (gitlab_claims("https://gitlab.com", AUD, "acme/app", now=int(time.time()) - 7200), "expired at"),
])
def test_gitlab_refuses_a_wrong_audience_or_expired_token_without_printing_it(monkeypatch, claims, expected):
    token = KEYS.sign(claims)
    monkeypatch.setenv("RUNNERKIT_ID_TOKEN", token)
    result = run_cli("credential", "gitlab", "--audience", AUD)
    assert result.code == 2 and expected in result.err and result.out == ""
    assert token not in result.err and token.split(".")[1] not in result.err
    debug = run_cli("--debug", "credential", "gitlab", "--audience", AUD)  # the traceback: still no token
    assert debug.code == 2 and "Traceback" in debug.err and expected in debug.err
    assert token not in debug.err and token.split(".")[1] not in debug.err
    with pytest.raises(InputError) as raised:  # nor in the error itself, before the CLI's redactor
        oc.check_token(oc.claims_of(token, "$RUNNERKIT_ID_TOKEN"), "$RUNNERKIT_ID_TOKEN", AUD, time.time())
    assert token.split(".")[1] not in "".join(traceback.format_exception(raised.value))


def test_gitlab_empty_or_garbage_variable(monkeypatch):
    monkeypatch.delenv("RUNNERKIT_ID_TOKEN", raising=False)
    empty = run_cli("credential", "gitlab", "--audience", AUD)
    assert empty.code == 2 and "id_tokens: RUNNERKIT_ID_TOKEN: aud: " + AUD in empty.err
    monkeypatch.setenv("RUNNERKIT_ID_TOKEN", "secret-not-a-jwt")
    garbage = run_cli("credential", "gitlab", "--audience", AUD)
    assert garbage.code == 2 and "is not a JWT" in garbage.err and "secret-not-a-jwt" not in garbage.err


def test_kubeconfig_runs_the_plugin_and_holds_no_credential(tmp_path):
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    result = run_cli("credential", "kubeconfig", "gitlab", "--audience", AUD, "--server",
                     "https://k8s.example.com:6443", "--ca-file", ca, "-n", "web", "--variable", "KUBE_ID_TOKEN")
    assert result.code == 0, result
    doc = yaml.safe_load(result.out)
    assert doc["users"] == [{"name": "gitlab-oidc", "user": {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1", "command": "runnerkit",
        "args": ["credential", "gitlab", "--audience", AUD, "--variable", "KUBE_ID_TOKEN"],
        "interactiveMode": "Never", "provideClusterInfo": False,
        "installHint": "pip install runnerkit (the job needs it on PATH to get its ID token)"}}}]
    assert doc["contexts"][0]["context"] == {"cluster": "kubernetes", "user": "gitlab-oidc", "namespace": "web"}
    assert doc["clusters"][0]["cluster"]["server"] == "https://k8s.example.com:6443"
    out = tmp_path / "kubeconfig"
    written = run_cli("credential", "kubeconfig", "github", "--audience", AUD, "--server",
                      "https://k8s.example.com", "--to", out)
    assert written.code == 0 and oct(out.stat().st_mode & 0o777) == "0o600"
    assert run_cli("credential", "kubeconfig", "github", "--audience", AUD, "--server", "http://x").code == 2
