"""The setup-kube action's verify against the real API server, in a faked runner pod: with kubectl,
with curl only, and with runnerkit; and failing for an account that may do nothing."""

from __future__ import annotations

import json

import pytest

from conftest import KUBECTL, NO_KUBECTL
from unit.github.test_ci_templates import run_action, tool_dir
from e2e.test_kubeconfig import default_sa_token, fake_pod, kubectl, kubelet_mount, project  # noqa: F401 (fixtures)


def pod_env(monkeypatch_env: dict) -> dict:
    return {k: monkeypatch_env[k] for k in ("RUNNERKIT_SA_DIR", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")}


@pytest.fixture
def env(fake_pod):
    import os

    return pod_env(os.environ)


@pytest.mark.skipif(KUBECTL is None, reason=NO_KUBECTL)
def test_verify_with_kubectl_lists_what_the_job_may_do(fake_pod, env, tmp_path):
    _, ns, _, token = fake_pod
    r, path = run_action(tmp_path, tool_dir(tmp_path, "kubectl"), env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"identity: system:serviceaccount:{ns}:web-ci" in r.stdout
    rows = {line.split()[0]: line for line in r.stdout.splitlines() if line.startswith(("pods ", "configmaps "))}
    assert "[get list]" in rows["pods"] and "[get]" in rows["configmaps"]
    assert token not in r.stdout + r.stderr
    assert kubectl(path, "get", "pods").returncode == 0  # the written file works, namespace pinned


def test_verify_with_curl_only(fake_pod, env, tmp_path):
    _, ns, _, token = fake_pod
    r, _ = run_action(tmp_path, tool_dir(tmp_path, "curl"), env)
    assert r.returncode == 0, r.stdout + r.stderr
    status = json.loads(r.stdout.split("SelfSubjectRulesReview status):\n", 1)[1])
    assert {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]} in status["resourceRules"]
    assert token not in r.stdout + r.stderr
    assert not (tmp_path / "runner-temp" / "setup-kube" / ".authorization").exists()


def test_verify_with_runnerkit(fake_pod, env, tmp_path):
    _, ns, _, _ = fake_pod
    r, _ = run_action(tmp_path, tool_dir(tmp_path, runnerkit=True), env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"identity: system:serviceaccount:{ns}:web-ci" in r.stderr and "get, list: pods" in r.stderr


@pytest.mark.parametrize("tools,runnerkit", [(("kubectl",), False), (("curl",), False), ((), True)])
def test_verify_fails_for_the_namespace_default_account(kube, fake_pod, env, tmp_path, tools, runnerkit):
    if tools and KUBECTL is None:
        pytest.skip(NO_KUBECTL)
    sa_dir, ns, ca, _ = fake_pod
    kubelet_mount(sa_dir, "..2024_01_01_03_00_00.4", default_sa_token(kube, ns), ca, ns)
    r, _ = run_action(tmp_path, tool_dir(tmp_path, *tools, runnerkit=runnerkit), env)
    assert r.returncode != 0
    assert "may do nothing" in (r.stdout + r.stderr).lower()
    assert f"system:serviceaccount:{ns}:default" in r.stdout + r.stderr


def test_verify_fails_on_a_rejected_token(fake_pod, env, tmp_path):
    sa_dir, ns, ca, _ = fake_pod
    kubelet_mount(sa_dir, "..2024_01_01_04_00_00.5", "not-a-token", ca, ns)
    r, _ = run_action(tmp_path, tool_dir(tmp_path, "curl"), env)
    assert r.returncode == 1 and "HTTP 401" in r.stdout
