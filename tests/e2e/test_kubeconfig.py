"""runnerkit kubeconfig in a faked pod against the real API server: kubectl and the Python client work
with the file, the namespace is pinned, exactly the declared verbs are allowed, rotation keeps working."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from conftest import CACHE, KUBECTL, NO_KUBECTL, admin_cluster, one_project_spec, run_cli
from runnerkit.model.kinds import SECRET
from runnerkit.cluster.client import connect
from runnerkit.model.validate_grants import KNOWN_VERBS

DECLARED = {"pods": {"get", "list"}, "configmaps": {"get"}, "secrets": set()}


APP_ACCESS = """      - name: app
        rules:
          - {apiGroups: [""], resources: [pods], verbs: [get, list]}
          - {apiGroups: [""], resources: [configmaps], verbs: [get]}
"""


@pytest.fixture
def project(provision, unique):
    """A project provisioned by `runnerkit apply`; deleted with its namespace afterwards."""
    return provision(one_project_spec("kc", unique, APP_ACCESS)), f"rkkc-{unique}"


def bound_token(kube, ns: str, sa: str, secret: str) -> str:
    """A token bound to a Secret: deleting the Secret revokes it (so rotation can be proven)."""
    obj = kube.request("POST", SECRET.collection_path(ns),
                       body={"apiVersion": "v1", "kind": "Secret", "metadata": {"name": secret}})
    return kube.token_request(ns, sa, 3600, bound_object={
        "kind": "Secret", "apiVersion": "v1", "name": secret, "uid": obj["metadata"]["uid"]})["token"]


def kubelet_mount(sa_dir: Path, stamp: str, token: str, ca: bytes, namespace: str) -> None:
    """Write the ServiceAccount volume the way the kubelet does: a new timestamped directory, then an
    atomic swap of the ..data symlink (token, ca.crt and namespace are symlinks through ..data)."""
    data = sa_dir / stamp
    data.mkdir(parents=True)
    (data / "token").write_text(token)  # no trailing newline, like the kubelet
    (data / "ca.crt").write_bytes(ca)
    (data / "namespace").write_text(namespace)
    tmp = sa_dir / "..data_tmp"
    tmp.symlink_to(stamp)
    os.replace(tmp, sa_dir / "..data")
    for name in ("token", "ca.crt", "namespace"):
        if not (sa_dir / name).is_symlink():
            (sa_dir / name).symlink_to(f"..data/{name}")


def default_sa_token(kube, ns: str) -> str:
    """A token of the namespace's `default` ServiceAccount (created asynchronously by a controller)."""
    from runnerkit.errors import NotFound

    deadline = time.monotonic() + 30
    while True:
        try:
            return kube.token_request(ns, "default", 600)["token"]
        except NotFound:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def authenticated(kube, token: str) -> bool:
    review = kube.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews",
                          body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                                "spec": {"token": token}})
    return bool(review["status"].get("authenticated"))


@pytest.fixture
def fake_pod(kube, kubeconfig, project, tmp_path, monkeypatch):
    _, ns = project
    server, ca = admin_cluster(kubeconfig)
    sa_dir = tmp_path / "serviceaccount"
    token = bound_token(kube, ns, "web-ci", "bind-1")
    kubelet_mount(sa_dir, "..2024_01_01_00_00_00.1", token, ca, ns)
    url = urlparse(server)
    monkeypatch.setenv("RUNNERKIT_SA_DIR", str(sa_dir))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", url.hostname)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(url.port))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    return sa_dir, ns, ca, token


def kubectl(path: Path, *argv: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env["KUBECONFIG"] = str(path)
    return subprocess.run([KUBECTL, *argv], capture_output=True, text=True, env=env, timeout=60)


def allowed_verbs(client, ns: str, resource: str) -> set[str]:
    return {v for v in sorted(KNOWN_VERBS - {"*"}) if client.self_can(v, resource, ns)}


def test_python_client_uses_the_file_with_exactly_the_declared_verbs(fake_pod, tmp_path):
    sa_dir, ns, _, token = fake_pod
    path = tmp_path / "kubeconfig"
    r = run_cli("kubeconfig", "--to", path)
    assert r.code == 0, r
    assert token not in path.read_text() + r.out + r.err
    client = connect(str(path))
    assert client.request("GET", f"/api/v1/namespaces/{ns}/pods")["items"] == []
    for resource, verbs in DECLARED.items():
        assert allowed_verbs(client, ns, resource) == verbs, resource
    assert not client.self_can("list", "pods", "default")  # the grant is only in the project namespace


@pytest.mark.skipif(KUBECTL is None, reason=NO_KUBECTL)
def test_kubectl_works_and_uses_the_pinned_namespace(fake_pod, tmp_path):
    _, ns, _, _ = fake_pod
    path = tmp_path / "kubeconfig"
    assert run_cli("kubeconfig", "--to", path).code == 0
    view = kubectl(path, "config", "view", "--minify", "-o", "jsonpath={.contexts[0].context.namespace}")
    assert view.stdout == ns
    # No -n: only the pinned namespace makes this allowed (the account may list pods nowhere else).
    got = kubectl(path, "get", "pods")
    assert got.returncode == 0, got.stderr
    assert f"No resources found in {ns} namespace" in got.stderr
    assert kubectl(path, "auth", "can-i", "list", "pods").stdout.strip() == "yes"
    assert kubectl(path, "auth", "can-i", "create", "pods").stdout.strip() == "no"
    assert kubectl(path, "auth", "can-i", "get", "configmaps").stdout.strip() == "yes"
    assert kubectl(path, "auth", "can-i", "list", "configmaps").stdout.strip() == "no"
    forbidden = kubectl(path, "get", "secrets")
    assert forbidden.returncode != 0 and "forbidden" in forbidden.stderr
    assert "x509" not in got.stderr + forbidden.stderr


def test_rotated_token_keeps_working_without_a_new_kubeconfig(kube, fake_pod, tmp_path):
    sa_dir, ns, ca, old = fake_pod
    path = tmp_path / "kubeconfig"
    assert run_cli("kubeconfig", "--to", path).code == 0
    written = path.read_bytes()
    assert connect(str(path)).self_can("list", "pods", ns)

    new = bound_token(kube, ns, "web-ci", "bind-2")
    kubelet_mount(sa_dir, "..2024_01_01_01_00_00.2", new, ca, ns)
    kube.request("DELETE", SECRET.object_path("bind-1", ns))
    deadline = time.monotonic() + 30
    while authenticated(kube, old) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not authenticated(kube, old), "the old token should be revoked with its Secret"

    assert path.read_bytes() == written  # same kubeconfig, new token from the same token file
    assert connect(str(path)).self_can("list", "pods", ns)
    if KUBECTL:
        got = kubectl(path, "get", "pods")
        assert got.returncode == 0, got.stderr


def test_verify_reports_identity_and_rules(fake_pod, tmp_path):
    _, ns, _, _ = fake_pod
    r = run_cli("kubeconfig", "--to", tmp_path / "k", "--verify")
    assert r.code == 0, r
    assert f"identity: system:serviceaccount:{ns}:web-ci" in r.err
    assert "get, list: pods [core]" in r.err
    assert "get: configmaps [core]" in r.err


def test_verify_fails_for_an_account_that_may_do_nothing(kube, fake_pod, tmp_path):
    sa_dir, ns, ca, _ = fake_pod
    # The namespace's `default` ServiceAccount: what a runner pod gets when nobody names one.
    kubelet_mount(sa_dir, "..2024_01_01_02_00_00.3", default_sa_token(kube, ns), ca, ns)
    r = run_cli("kubeconfig", "--to", tmp_path / "k", "--verify")
    assert r.code == 1, r
    assert f"system:serviceaccount:{ns}:default" in r.err
    assert "may do NOTHING" in r.err and "patch-runner" in r.err


def test_verify_reports_a_rejected_token(fake_pod, tmp_path):
    bad = tmp_path / "bad-token"
    bad.write_text("not-a-valid-token")
    r = run_cli("kubeconfig", "--to", tmp_path / "k", "--token-file", bad, "--verify")
    assert r.code == 3, r
    assert "rejected the token" in r.err and "not-a-valid-token" not in r.err


@pytest.mark.skipif(shutil.which("helm", path=str(CACHE / "tools" / "v32")) is None,
                    reason="helm not fetched (scripts/fetch-helm-kubectl)")
def test_helm_reaches_the_server_without_x509_errors(fake_pod, tmp_path):
    path = tmp_path / "kubeconfig"
    assert run_cli("kubeconfig", "--to", path).code == 0
    helm = str(CACHE / "tools" / "v32" / "helm")
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env.update(KUBECONFIG=str(path), HELM_CACHE_HOME=str(tmp_path / "hc"), HELM_CONFIG_HOME=str(tmp_path / "hcfg"))
    got = subprocess.run([helm, "list"], capture_output=True, text=True, env=env, timeout=60)
    # The account may not list Secrets (helm's release storage): the server answers, TLS is fine.
    assert "x509" not in got.stderr
    assert "forbidden" in got.stderr and "secrets" in got.stderr
