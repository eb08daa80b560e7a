"""runnerkit doctor without a cluster: token facts, kubeconfig merging, namespace reasoning, needs and
their fixes, and the TLS diagnosis against a local TLS server with certificates made by openssl."""

from __future__ import annotations

import base64
import json
import shutil
import socket
import ssl
import subprocess
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import run_cli
from runnerkit.diagnose import doctor_tls
from runnerkit.cluster import client as kube
from runnerkit.diagnose.doctor_rules import (FAIL, OK, WARN, grant_fix, merged_kubeconfig, namespace_results,
                                    parse_need, self_review_result, token_results)
from runnerkit.cluster.incluster import token_facts
from runnerkit.errors import InputError
from runnerkit.model.rbac import Access

NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)
OPENSSL = shutil.which("openssl") or "openssl"  # needed by the test command (a missing one fails, never skips)


def projected(exp: datetime, aud=("https://kubernetes.default.svc",)) -> dict:
    return {"aud": list(aud), "exp": int(exp.timestamp()), "iss": "https://kubernetes.default.svc",
            "kubernetes.io": {"namespace": "web", "pod": {"name": "runner-abc", "uid": "1"},
                              "serviceaccount": {"name": "web-ci", "uid": "2"}},
            "sub": "system:serviceaccount:web:web-ci"}


LEGACY = {"iss": "kubernetes/serviceaccount", "kubernetes.io/serviceaccount/namespace": "web",
          "kubernetes.io/serviceaccount/secret.name": "web-ci-token-x",
          "kubernetes.io/serviceaccount/service-account.name": "web-ci", "sub": "system:serviceaccount:web:web-ci"}


# -- the token ----------------------------------------------------------------------------------------


def test_projected_token_facts():
    facts = token_facts(projected(NOW + timedelta(minutes=50)))
    assert (facts.namespace, facts.service_account, facts.legacy, facts.pod) == ("web", "web-ci", False, "runner-abc")
    results = token_results(facts, NOW, "web")
    assert [r.status for r in results] == [OK, OK]
    assert results[1].message.startswith("bound (projected) token, bound to pod runner-abc: expires in 50m00s")


def test_legacy_tokens_warn_and_expired_tokens_fail():
    legacy = token_results(token_facts(LEGACY), NOW, "web")
    assert [r.status for r in legacy] == [OK, WARN] and "never expires" in legacy[1].message
    expired = token_results(token_facts(projected(NOW - timedelta(minutes=3))), NOW, "web")
    assert expired[1].status == FAIL and "expired 3m00s ago" in expired[1].message
    assert "tokenFile" in expired[1].fix
    soon = token_results(token_facts(projected(NOW + timedelta(seconds=90))), NOW, "web")
    assert soon[1].status == WARN


def test_namespace_file_that_disagrees_with_the_token_warns():
    results = token_results(token_facts(projected(NOW + timedelta(hours=1))), NOW, "other")
    assert [r.status for r in results] == [OK, WARN, OK]


# -- which kubeconfig and namespace ---------------------------------------------------------------------


def test_merged_kubeconfig_first_file_wins_and_ca_paths_are_relative_to_the_file(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "ca.crt").write_bytes(b"CA-A")
    first = {"current-context": "one",
             "clusters": [{"name": "c", "cluster": {"server": "https://a:6443", "certificate-authority": "ca.crt"}}],
             "contexts": [{"name": "one", "context": {"cluster": "c", "user": "u", "namespace": "web"}}],
             "users": [{"name": "u", "user": {"tokenFile": str(tmp_path / "token")}}]}
    second = {"current-context": "two",
              "clusters": [{"name": "c", "cluster": {"server": "https://b:6443"}},
                           {"name": "d", "cluster": {"server": "https://d:6443", "insecure-skip-tls-verify": True,
                                                     "certificate-authority-data": base64.b64encode(b"CA-D").decode()}}],
              "contexts": [{"name": "two", "context": {"cluster": "d", "user": "u"}}]}
    (tmp_path / "token").write_text("tok\n")
    t = merged_kubeconfig([(str(tmp_path / "a" / "config"), first), ("/elsewhere/config", second)], None)
    assert (t.server, t.ca_pem, t.namespace, t.context, t.token) == ("https://a:6443", b"CA-A", "web", "one", "tok")
    assert "tok" not in repr(t)
    t = merged_kubeconfig([(str(tmp_path / "a" / "config"), first), ("/elsewhere/config", second)], "two")
    assert (t.server, t.ca_pem, t.insecure, t.namespace) == ("https://d:6443", b"CA-D", True, None)
    assert merged_kubeconfig([("x", first)], "nope").problem == "context 'nope' is not defined"


def test_namespace_reasoning():
    from runnerkit.diagnose.doctor_rules import Target

    kubeconfig = Target("kubeconfig", "https://x", None, "", namespace="web", context="ctx")
    ns, results = namespace_results(kubeconfig, None, {}, None)
    assert ns == "web" and "the namespace of kubeconfig context 'ctx'" in results[0].message
    ns, results = namespace_results(kubeconfig, "other", {}, None)
    assert ns == "other" and "-n other" in results[0].message
    bare = Target("kubeconfig", "https://x", None, "", context="ctx")
    ns, results = namespace_results(bare, None, {}, "web")
    assert ns == "default" and results[0].status == WARN and "pins it" in results[0].fix
    incluster = Target("in-cluster", "https://x", None, "", namespace="web")
    ns, results = namespace_results(incluster, None, {"HELM_NAMESPACE": "prod"}, "web")
    assert ns == "web" and [r.message for r in results] == [
        "kubectl uses namespace web: in-cluster config: the mounted ServiceAccount's namespace file",
        "helm uses namespace prod: the HELM_NAMESPACE variable"]
    ns, _ = namespace_results(incluster, None, {"POD_NAMESPACE": "from-env"}, "web")
    assert ns == "from-env"


# -- needs ------------------------------------------------------------------------------------------------


def test_needs():
    helm = parse_need("helm-deployer")
    assert helm.preset == "helm-deployer" and Access("list", "secrets") in helm.accesses
    assert Access("create", "deployments", "apps") in helm.accesses and len(helm.accesses) == len(set(helm.accesses))
    viewer = parse_need("viewer")
    assert viewer.cluster_role == "view" and Access("list", "configmaps") in viewer.accesses
    assert parse_need(" list secrets ").accesses == (Access("list", "secrets"),)
    with pytest.raises(InputError, match="not a preset"):
        parse_need("helm")


def test_grant_fix_for_rules_presets_other_namespaces_and_cluster_scope():
    lines = grant_fix(parse_need("list secrets"), [Access("list", "secrets")], "web", "web", "web")
    assert lines == [
        "missing Role rule:",
        '  - apiGroups: [""]', "    resources: [secrets]", "    verbs: [list]",
        "grant it in runnerkit.yaml (project web), then `runnerkit apply`:",
        "  - name: web", "    access:", "      - rules:",
        '          - apiGroups: [""]', "            resources: [secrets]", "            verbs: [list]"]
    preset = grant_fix(parse_need("helm-deployer"), [Access("create", "deployments", "apps")], None, "web", "prod")
    assert preset[-3:] == ["    access:", "      - preset: helm-deployer", "        namespaces: [prod]"]
    assert "  - name: <project>" in preset
    nodes = grant_fix(parse_need("get nodes"), [Access("get", "nodes")], "web", "web", "web")
    assert nodes[0] == "missing ClusterRole rule:" and nodes[-1] == "        clusterWide: true"


def test_bad_needs_and_as_fail_before_connecting(monkeypatch):
    monkeypatch.setattr(kube, "connect", lambda *a, **k: pytest.fail("must not connect"))
    r = run_cli("doctor", "--need", "frobnicate pods")
    assert r.code == 2 and "'frobnicate' is not a Kubernetes verb" in r.err
    r = run_cli("doctor", "--as", "alice")
    assert r.code == 2 and "system:serviceaccount:NAMESPACE:NAME" in r.err


def test_no_credentials_at_all(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("RUNNERKIT_SA_DIR", str(tmp_path / "none"))
    for var in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        monkeypatch.delenv(var, raising=False)
    r = run_cli("doctor", "-o", "json")
    assert r.code == 1
    data = json.loads(r.out)
    assert data["ok"] is False and data["checks"][0]["section"] == "credentials"
    assert data["checks"][0]["status"] == "fail" and "no cluster credentials" in data["checks"][0]["message"]
    text = run_cli("doctor")
    assert text.code == 1 and text.out.startswith("Credentials\n  x no cluster credentials")
    assert "      fix: inside a job pod" in text.out and text.out.endswith("\n\ndoctor: 1 check failed\n")


# -- TLS diagnosis against a local server -----------------------------------------------------------------


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """A CA, a server certificate for other.example and 127.0.0.2 only, and an unrelated CA."""
    if OPENSSL is None:
        pytest.skip("needs the openssl command to make certificates")
    d = tmp_path_factory.mktemp("pki")
    for name in ("ca", "stranger"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.crt",
                "-days", "2", "-subj", f"/CN=test-{name}", cwd=d)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=apiserver", cwd=d)
    (d / "san.ext").write_text("subjectAltName=DNS:other.example,IP:127.0.0.2\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.crt", "-days", "2", "-extfile", "san.ext", cwd=d)
    return d


@pytest.fixture
def tls_server(certs):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certs / "server.crt", certs / "server.key")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (ssl.SSLError, OSError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    listener.close()


def test_hostname_not_in_the_certificate(tls_server, certs):
    probe = doctor_tls.probe(tls_server, (certs / "ca.crt").read_bytes())
    assert probe.reachable and not probe.verified and probe.problem == "hostname"
    assert probe.sans == ["other.example", "127.0.0.2"]
    assert probe.message == "the certificate is not valid for 127.0.0.1: it names other.example, 127.0.0.2"


def test_certificate_signed_by_another_ca(tls_server, certs):
    probe = doctor_tls.probe(tls_server, (certs / "stranger.crt").read_bytes())
    assert probe.problem == "wrong-ca" and probe.server_issuer == "CN=test-ca"
    assert probe.ca_subjects == ["CN=test-stranger"]
    assert probe.message.startswith("x509: certificate signed by unknown authority: issued by CN=test-ca, "
                                    "but the CA is CN=test-stranger")


def test_garbage_ca_and_unreachable_servers(tls_server):
    assert doctor_tls.probe(tls_server, b"not a certificate").problem == "bad-ca"
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    probe = doctor_tls.probe(f"https://127.0.0.1:{port}", None)
    assert not probe.reachable and probe.problem == "unreachable" and "refused" in probe.message.lower()


# The answer of a 1.28+ API server (authentication.k8s.io/v1), as documented for SelfSubjectReview.
SELF_REVIEW = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview",
               "status": {"userInfo": {"username": "system:serviceaccount:ci:web-ci",
                                       "uid": "b79dbf59-2b3c-4b5d-9f3e-0c8a8b0e9d4e",
                                       "groups": ["system:serviceaccounts", "system:serviceaccounts:ci",
                                                  "system:authenticated"]}}}


def test_self_review_confirms_the_mounted_account():
    user, status, message, fix = self_review_result(SELF_REVIEW, ("ci", "web-ci"))
    assert (user, status, fix) == ("system:serviceaccount:ci:web-ci", OK, "")
    assert message == ("the API server sees system:serviceaccount:ci:web-ci (SelfSubjectReview), groups "
                       "system:serviceaccounts, system:serviceaccounts:ci, system:authenticated")


def test_self_review_warns_when_the_server_sees_someone_else():
    user, status, _, fix = self_review_result(SELF_REVIEW, ("ci", "deployer"))
    assert status == WARN and user == "system:serviceaccount:ci:web-ci"
    assert fix == "the credentials in use are not system:serviceaccount:ci:deployer's"


def test_self_review_without_a_mounted_account_just_reports_the_user():
    user, status, _, _ = self_review_result(SELF_REVIEW, None)
    assert (user, status) == ("system:serviceaccount:ci:web-ci", OK)
    assert self_review_result({}, None)[0] == "?"
