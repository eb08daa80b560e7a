"""runnerkit doctor on the real API server, from a faked pod filesystem (RUNNERKIT_SA_DIR with a token
minted by TokenRequest, the cluster's ca.crt, KUBERNETES_SERVICE_HOST/PORT) and from outside with --as."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from conftest import admin_cluster, kubeconfig_doc, one_project_spec, run_cli
from runnerkit.model.kinds import SECRET



@pytest.fixture
def project(provision, unique):
    return provision(one_project_spec("doc", unique)), f"rkdoc-{unique}"


def mount(sa_dir: Path, token: str, ca: bytes, namespace: str) -> None:
    sa_dir.mkdir(parents=True, exist_ok=True)
    (sa_dir / "token").write_text(token)
    (sa_dir / "ca.crt").write_bytes(ca)
    (sa_dir / "namespace").write_text(namespace)


@pytest.fixture
def pod(kube, kubeconfig, project, tmp_path, monkeypatch):
    """The job pod's view: a mounted ServiceAccount, the in-cluster env, no kubeconfig anywhere."""
    spec, ns = project
    server, ca = admin_cluster(kubeconfig)
    token = kube.token_request(ns, "web-ci", 3600)["token"]
    sa_dir = tmp_path / "serviceaccount"
    mount(sa_dir, token, ca, ns)
    url = urlparse(server)
    monkeypatch.setenv("RUNNERKIT_SA_DIR", str(sa_dir))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", url.hostname)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(url.port))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for var in ("KUBECONFIG", "HELM_NAMESPACE", "POD_NAMESPACE"):
        monkeypatch.delenv(var, raising=False)
    return spec, ns, sa_dir, token


def test_everything_passes_in_a_pod_with_the_needed_rights(pod):
    spec, ns, sa_dir, token = pod
    r = run_cli("doctor", "--need", "pod-reader", "--need", "list pods")
    assert r.code == 0, r
    out = r.out
    assert f"  + ServiceAccount web-ci in namespace {ns} (decoded locally from the token's claims)" in out
    assert "  + bound (projected) token: expires in 59m" in out or "  + bound (projected) token: expires in 1h" in out
    assert f"  + TLS certificate verified with {sa_dir / 'ca.crt'}" in out
    assert "  + the API server accepts the credentials" in out
    # the API server's own view of the caller (SelfSubjectReview, GA since 1.28)
    assert (f"  + the API server sees system:serviceaccount:{ns}:web-ci (SelfSubjectReview), groups "
            f"system:serviceaccounts, system:serviceaccounts:{ns}, system:authenticated") in out, out
    assert f"  + kubectl and helm use namespace {ns}: in-cluster config: the mounted ServiceAccount's namespace file" in out
    assert f"  + pod-reader (preset: 2 permissions) in namespace {ns}" in out
    assert f"  + list pods in namespace {ns}" in out
    assert "\n  x " not in out and out.rstrip().endswith("doctor: all checks passed")  # x: a failed check
    assert token not in out + r.err


def test_json_report(pod):
    _, ns, _, token = pod
    r = run_cli("doctor", "--need", "list pods", "-o", "json")
    assert r.code == 0, r
    data = json.loads(r.out)
    assert data["ok"] is True
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))  # the server's own audience
    assert {k: data["identity"][k] for k in ("serviceAccount", "namespace", "token", "audiences")} == {
        "serviceAccount": "web-ci", "namespace": ns, "token": "bound", "audiences": claims["aud"]}
    assert data["target"]["source"] == "in-cluster"
    assert {c["status"] for c in data["checks"]} <= {"ok", "skip"}
    assert token not in r.out


def test_missing_permissions_print_the_rule_and_the_spec_change(pod):
    spec, ns, _, _ = pod
    r = run_cli("doctor", "--need", "list secrets", "--need", "helm-deployer", "--need", "get pods", "--spec", spec)
    assert r.code == 1, r
    out = r.out
    assert f"  x list secrets in namespace {ns}: missing list secrets" in out
    assert f"  + get pods in namespace {ns}" in out
    # pod-reader already grants get and list pods: the other 106 of the preset are missing
    assert f"  x helm-deployer (preset: 108 permissions) in namespace {ns}: missing 106 of 108 permissions" in out
    block = out[out.index("missing list secrets"):out.index("helm-deployer (preset")]
    assert block.splitlines()[1:-1] == [
        "      missing Role rule:",
        '        - apiGroups: [""]', "          resources: [secrets]", "          verbs: [list]",
        "      grant it in runnerkit.yaml (project web), then `runnerkit apply`:",
        "        - name: web", "          access:", "            - rules:",
        '                - apiGroups: [""]', "                  resources: [secrets]", "                  verbs: [list]"]
    assert "            - preset: helm-deployer" in out
    assert out.rstrip().endswith("doctor: 2 checks failed")


def make_ca(path: Path, tmp_path: Path) -> None:
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "k"),
                    "-out", str(path), "-days", "1", "-subj", "/CN=not-the-cluster-ca"],
                   check=True, capture_output=True)


def subject_cn(pem: bytes) -> str:
    """The CN of a certificate's subject, as doctor prints it (the cluster CA's is the harness's)."""
    out = subprocess.run(["openssl", "x509", "-noout", "-subject", "-nameopt", "multiline"], input=pem,
                         capture_output=True, check=True).stdout.decode()
    return re.search(r"commonName\s*=\s*(.+)", out).group(1).strip()


def test_a_mounted_ca_that_did_not_sign_the_server(pod, tmp_path, kubeconfig):
    _, _, sa_dir, _ = pod
    cluster_ca = subject_cn(admin_cluster(kubeconfig)[1])
    make_ca(sa_dir / "ca.crt", tmp_path)
    r = run_cli("doctor", "--need", "list pods")
    assert r.code == 1, r
    assert (f"  x TLS: x509: certificate signed by unknown authority: issued by CN={cluster_ca}, but the CA "
            "is CN=not-the-cluster-ca") in r.out
    assert "KUBERNETES_SERVICE_HOST/PORT probably point at a proxy" in r.out
    assert "  - API checks skipped: no trusted connection to the API server" in r.out
    assert "Needs" not in r.out


def test_helms_x509_error_from_a_kubeconfig_with_the_wrong_ca(pod, kubeconfig, tmp_path, monkeypatch):
    """The usual case: helm reads a kubeconfig whose CA is wrong while the pod's mounted one is right."""
    _, ns, sa_dir, token = pod
    server, _ = admin_cluster(kubeconfig)
    make_ca(tmp_path / "wrong.crt", tmp_path)
    config = kubeconfig_doc({"server": server, "certificate-authority": str(tmp_path / "wrong.crt")},
                            {"token": token}, namespace=ns)
    (tmp_path / "kubeconfig").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    r = run_cli("doctor")
    assert r.code == 1, r
    assert "  x TLS: x509: certificate signed by unknown authority" in r.out
    assert f"(CA from {tmp_path / 'wrong.crt'})" in r.out
    assert f"the pod's mounted {sa_dir / 'ca.crt'} does verify the server" in r.out
    assert f"--kube-ca-file {sa_dir / 'ca.crt'}" in r.out and 'eval "$(runnerkit kubeconfig)"' in r.out
    assert token not in r.out + r.err


def authenticated(kube, token: str) -> bool:
    review = kube.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews",
                          body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                                "spec": {"token": token}})
    return bool(review["status"].get("authenticated"))


def test_a_revoked_token_is_rejected(pod, kube):
    _, ns, sa_dir, _ = pod
    secret = kube.request("POST", SECRET.collection_path(ns),
                          body={"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "binder"}})
    token = kube.token_request(ns, "web-ci", 3600, bound_object={
        "kind": "Secret", "apiVersion": "v1", "name": "binder", "uid": secret["metadata"]["uid"]})["token"]
    (sa_dir / "token").write_text(token)
    assert run_cli("doctor").code == 0
    kube.request("DELETE", SECRET.object_path("binder", ns))
    deadline = time.monotonic() + 30  # the API server caches authentications for a few seconds
    while authenticated(kube, token) and time.monotonic() < deadline:
        time.sleep(0.5)
    r = run_cli("doctor", "--need", "list pods")
    assert r.code == 1, r
    assert "  x the API server rejected the credentials (401 Unauthorized)" in r.out
    assert "revoked" in r.out


def test_a_kubeconfig_without_namespace_overrides_the_pod(pod, kubeconfig, tmp_path, monkeypatch):
    _, ns, _, _ = pod
    config = yaml.safe_load(Path(kubeconfig).read_text())
    del config["contexts"][0]["context"]["namespace"]
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("KUBECONFIG", str(path))
    r = run_cli("doctor")
    assert r.code == 0, r  # a warning, not a failure
    assert (f"  + kubectl and helm use kubeconfig {path}, context 'runnerkit-e2e', user 'admin'; not the pod's "
            "mounted ServiceAccount") in r.out
    assert "  ! kubectl and helm use namespace default: kubeconfig context 'runnerkit-e2e' sets no namespace" in r.out
    assert f"pass -n {ns}" in r.out


def test_as_a_service_account_from_outside(kubeconfig, project, tmp_path, monkeypatch):
    spec, ns = project
    monkeypatch.setenv("RUNNERKIT_SA_DIR", str(tmp_path / "no-pod"))
    r = run_cli("doctor", "--kubeconfig", kubeconfig, "--as", f"system:serviceaccount:{ns}:web-ci",
                "--need", "list pods", "--need", "create pods/exec", "--need", "get nodes", "--spec", spec)
    assert r.code == 1, r
    assert f"  + ServiceAccount {ns}/web-ci exists; checking its rights with SubjectAccessReviews" in r.out
    assert f"  + checking namespace {ns}: the ServiceAccount's own (-n to change)" in r.out
    assert f"  + list pods in namespace {ns}" in r.out
    assert f"  x create pods/exec in namespace {ns}: missing create pods/exec" in r.out
    assert "  x get nodes cluster-wide: missing get nodes" in r.out
    assert "        clusterWide: true" in r.out and "Pod ServiceAccount" not in r.out
    r = run_cli("doctor", "--kubeconfig", kubeconfig, "--as", f"system:serviceaccount:{ns}:nobody")
    assert r.code == 1 and f"  x ServiceAccount nobody does not exist in namespace {ns}" in r.out
