"""The CI templates' keyless mode on the real API server: the setup-kube action (oidc-audience) and the
runnerkit-oidc GitLab component, each with and without runnerkit on PATH, authenticate with minted
ID tokens of the test issuers; the kubeconfigs they write then make real kubectl requests that are
allowed in the project's namespace and forbidden in another project's; no token is ever printed."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import requests

from conftest import KUBECTL, eventually
from e2e.oidc_cluster import oidc  # noqa: F401 (fixture)
from oidc_issuer import GithubTokenEndpoint
from unit.github.test_ci_templates import run_action, tool_dir
from unit.github.test_setup_kube_oidc import OIDC_TOOLS
from unit.gitlab.test_component_oidc import gitlab_token, kubeconfig_of, run_job
from unit.gitlab.test_component_oidc import before_script as gitlab_before_script

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl comes from scripts/fetch-helm-kubectl")


def kubectl(kubeconfig: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([KUBECTL, *args], capture_output=True, text=True, timeout=60,
                          env={**env, "KUBECONFIG": str(kubeconfig)})


def assert_allowed_in_own_namespace_only(oidc, kubeconfig: Path, env: dict, name: str) -> None:
    made = kubectl(kubeconfig, env, "create", "configmap", name)  # the pinned namespace: the project's
    assert made.returncode == 0, made.stderr
    assert kubectl(kubeconfig, env, "get", "configmap", name, "-n", oidc.ns_a).returncode == 0
    denied = kubectl(kubeconfig, env, "get", "configmaps", "-n", oidc.ns_b)
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()
    denied = kubectl(kubeconfig, env, "create", "configmap", name, "-n", oidc.ns_b)
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()
    assert kubectl(kubeconfig, env, "get", "secrets").returncode != 0  # only what the project declares


# -- GitHub: the setup-kube action --------------------------------------------------------------------


@pytest.mark.parametrize("runnerkit,tools", [(False, ("kubectl",)), (False, ()), (True, ("kubectl",))],
                         ids=["shell-plugin+kubectl-verify", "shell-plugin+curl-verify", "runnerkit+kubectl-verify"])
def test_setup_kube_oidc_mode_on_the_real_server(oidc, tmp_path, runnerkit, tools):
    repo = f"acme/a-{oidc.u}"
    endpoint = GithubTokenEndpoint(lambda: oidc.github(repo))
    bin_dir = tool_dir(tmp_path, *OIDC_TOOLS, *tools, runnerkit=runnerkit)
    try:
        r, path = run_action(tmp_path, bin_dir, endpoint.vars, oidc_audience=oidc.aud, server=oidc.api.server,
                             certificate_authority=Path(oidc.api.ca).read_text(), namespace=oidc.ns_a)
        assert r.returncode == 0, r.stdout + r.stderr
        out = r.stdout + r.stderr
        assert oidc.github_username(repo) in out  # the SelfSubjectReview's username
        assert f"may in namespace {oidc.ns_a}" in out and "configmaps" in out
        # kubectl runs the exec plugin from the kubeconfig; the plugin needs the job's env (PATH, the
        # ACTIONS_ID_TOKEN_REQUEST_* variables) as in a later step of the job
        env = {"PATH": str(bin_dir), "HOME": str(tmp_path), **endpoint.vars}
        assert_allowed_in_own_namespace_only(oidc, path, env, f"gh-{int(runnerkit)}-{len(tools)}")
        assert endpoint.requests and set(endpoint.requests) == {endpoint.expected_request(oidc.aud)}
        for token in endpoint.tokens[:1]:  # the one fetched by the action: masked, never printed
            assert [line for line in out.splitlines() if token in line] == [f"::add-mask::{token}"]
        for token in endpoint.tokens[1:]:  # fetched by kubectl through the plugin: never printed at all
            assert token not in out
    finally:
        endpoint.close()


def test_setup_kube_verify_fails_for_an_identity_that_may_do_nothing(oidc, tmp_path):
    pr = GithubTokenEndpoint(lambda: oidc.github(f"acme/a-{oidc.u}", event_name="pull_request",
                                                 ref="refs/pull/3/merge"))
    try:
        r, _ = run_action(tmp_path, tool_dir(tmp_path, *OIDC_TOOLS, "kubectl"), pr.vars, oidc_audience=oidc.aud,
                          server=oidc.api.server, certificate_authority=Path(oidc.api.ca).read_text(),
                          namespace=oidc.ns_a)
    finally:
        pr.close()
    assert r.returncode == 1
    assert ":pull_request" in r.stdout  # who the server says it is
    assert f"may do nothing in namespace {oidc.ns_a}" in r.stdout


# The hint names every way to make the API server trust the issuer, not only --authentication-config.
TRUST_HINT = "runnerkit render --format authentication-config (or oidc-flags / eks-identity-provider)"


@pytest.mark.parametrize("tools", [(), ("kubectl",)], ids=["curl-verify", "kubectl-verify"])
def test_setup_kube_verify_fails_when_the_server_rejects_the_token(oidc, tmp_path, tools):
    foreign = GithubTokenEndpoint(lambda: oidc.github(f"evil/a-{oidc.u}"))
    try:
        r, _ = run_action(tmp_path, tool_dir(tmp_path, *OIDC_TOOLS, *tools), foreign.vars, oidc_audience=oidc.aud,
                          server=oidc.api.server, certificate_authority=Path(oidc.api.ca).read_text(),
                          namespace=oidc.ns_a)
    finally:
        foreign.close()
    assert r.returncode == 1
    [error] = [line for line in r.stdout.splitlines() if line.startswith("::error")]
    if tools:
        assert "rejected the job's ID token" in error and "Unauthorized" in error
    else:
        assert "HTTP 401" in error and "SelfSubjectReview" in error
    assert TRUST_HINT in error and f"audience {oidc.aud}" in error


# -- GitLab: the runnerkit-oidc component ---------------------------------------------------------------


@pytest.mark.parametrize("runnerkit", [False, True], ids=["token-file", "runnerkit-exec-plugin"])
def test_gitlab_component_on_the_real_server(oidc, tmp_path, runnerkit):
    project = f"acme/a-{oidc.u}"
    token = oidc.gitlab(project)  # protected main: declared for project a
    env = {"RUNNERKIT_ID_TOKEN": token, "KUBE_SERVER": oidc.api.server, "KUBE_CA": Path(oidc.api.ca).read_text()}
    r = run_job(tmp_path, gitlab_before_script(audience=oidc.aud, namespace=oidc.ns_a), env,
                runnerkit=runnerkit, extra_tools=("kubectl",))
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"gitlab:project_path:{project}:ref_type:branch:ref:main:protected" in r.stdout
    assert "configmaps" in r.stdout
    assert token not in r.stdout + r.stderr
    path = kubeconfig_of(r)
    job_env = {"PATH": os.pathsep.join([str(Path(KUBECTL).parent), os.environ["PATH"]]), "HOME": str(tmp_path),
               **env}
    assert_allowed_in_own_namespace_only(oidc, path, job_env, f"gl-{int(runnerkit)}")


def test_gitlab_component_fails_an_unprotected_ref_before_the_script(oidc, tmp_path):
    token = oidc.gitlab(f"acme/a-{oidc.u}", protected=False)
    r = run_job(tmp_path, gitlab_before_script(audience=oidc.aud, namespace=oidc.ns_a),
                {"RUNNERKIT_ID_TOKEN": token, "KUBE_SERVER": oidc.api.server,
                 "KUBE_CA": Path(oidc.api.ca).read_text()},
                extra_tools=("kubectl",), then="echo SCRIPT RAN")
    assert r.returncode == 1 and "SCRIPT RAN" not in r.stdout
    assert ":unprotected" in r.stdout and f"may do nothing in namespace {oidc.ns_a}" in r.stderr
    assert token not in r.stdout + r.stderr


def test_gitlab_component_fails_a_token_the_server_rejects(oidc, tmp_path):
    token = gitlab_token(f"acme/a-{oidc.u}")  # signed by a key the API server does not trust
    r = run_job(tmp_path, gitlab_before_script(audience=oidc.aud, namespace=oidc.ns_a),
                {"RUNNERKIT_ID_TOKEN": token, "KUBE_SERVER": oidc.api.server,
                 "KUBE_CA": Path(oidc.api.ca).read_text()},
                extra_tools=("kubectl",), then="echo SCRIPT RAN")
    assert r.returncode == 1 and "SCRIPT RAN" not in r.stdout
    assert "rejected the job's ID token" in r.stderr and TRUST_HINT in r.stderr
    assert token not in r.stdout + r.stderr


def test_the_shell_plugin_refreshes_the_token_in_one_kubectl_process(oidc, tmp_path):
    """client-go runs oidc-credential.sh again once its expirationTimestamp (exp - 30 s) has passed."""
    lifetime = 40
    endpoint = GithubTokenEndpoint(lambda: oidc.github(f"acme/a-{oidc.u}", lifetime=lifetime))
    bin_dir = tool_dir(tmp_path, *OIDC_TOOLS)
    proxy = None
    try:
        r, path = run_action(tmp_path, bin_dir, endpoint.vars, oidc_audience=oidc.aud, server=oidc.api.server,
                             certificate_authority=Path(oidc.api.ca).read_text(), namespace=oidc.ns_a,
                             verify="false")
        assert r.returncode == 0, r.stdout + r.stderr
        env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "KUBECONFIG": str(path), **endpoint.vars}
        proxy = subprocess.Popen([KUBECTL, "proxy", "--port=0"], env=env, stdout=subprocess.PIPE, text=True)
        port = re.search(r":(\d+)", proxy.stdout.readline())[1]
        url = f"http://127.0.0.1:{port}/api/v1/namespaces/{oidc.ns_a}/configmaps"
        assert eventually(lambda: requests.get(url, timeout=10).status_code == 200, 10)
        before = len(endpoint.issued)
        time.sleep(lifetime + 5)  # every token issued so far has expired
        assert requests.get(url, timeout=10).status_code == 200  # the same process ran the plugin again
        assert len(endpoint.issued) > before
        assert set(endpoint.requests) == {endpoint.expected_request(oidc.aud)}
    finally:
        if proxy:
            proxy.terminate()
            proxy.wait(10)
        endpoint.close()
