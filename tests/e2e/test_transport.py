"""runnerkit.cluster.transport on the real API server: token and exec-plugin kubeconfigs authenticate,
tls-server-name and insecure-skip-tls-verify are honoured."""

from __future__ import annotations

import sys

import pytest
import yaml

from conftest import eventually, kubeconfig_doc
from runnerkit.errors import Forbidden, Unreachable


@pytest.fixture
def write(tmp_path):
    def write_doc(doc: dict, name: str = "kubeconfig") -> str:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(doc))
        return str(path)
    return write_doc


@pytest.fixture
def reader_token(kube, make_namespace, unique):
    """A short-lived token of a ServiceAccount that may only list pods in its own namespace."""
    ns = make_namespace(f"transport-{unique}")
    kube.request("POST", f"/api/v1/namespaces/{ns}/serviceaccounts", body={"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reader"}})
    kube.request("POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles", body={
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "pods"}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]})
    kube.request("POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings", body={
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "pods"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pods"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": ns}]})
    token = kube.token_request(ns, "reader", 600)["token"]
    return ns, token


def _cluster(kubeconfig: str) -> dict:
    return yaml.safe_load(open(kubeconfig))["clusters"][0]["cluster"]


def _allowed_eventually(client, ns: str) -> None:
    """The authorizer sees a new RoleBinding once its informer has it."""
    def allowed() -> bool:
        try:
            client.request("GET", f"/api/v1/namespaces/{ns}/pods")
            return True
        except Forbidden:
            return False
    assert eventually(allowed), f"the reader's RoleBinding in {ns} never took effect"


def test_token_kubeconfig_authenticates(kubeconfig, reader_token, write):
    from runnerkit.cluster import client as kube

    ns, token = reader_token
    path = write(kubeconfig_doc(_cluster(kubeconfig), {"token": token}), "token.kubeconfig")
    client = kube.connect(path)
    _allowed_eventually(client, ns)
    with pytest.raises(Forbidden):
        client.request("GET", f"/api/v1/namespaces/{ns}/secrets")


def test_exec_plugin_kubeconfig_authenticates(kubeconfig, reader_token, write, tmp_path):
    from runnerkit.cluster import client as kube

    ns, token = reader_token
    plugin = tmp_path / "plugin.py"
    plugin.write_text(f"import json\nprint(json.dumps({{'apiVersion': 'client.authentication.k8s.io/v1beta1', "
                      f"'kind': 'ExecCredential', 'status': {{'token': {token!r}}}}}))\n")
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": sys.executable,
                     "args": [str(plugin)]}}
    client = kube.connect(write(kubeconfig_doc(_cluster(kubeconfig), user), "exec.kubeconfig"))
    _allowed_eventually(client, ns)
    with pytest.raises(Forbidden):
        client.request("GET", f"/api/v1/namespaces/{ns}/secrets")


def test_tls_server_name_and_insecure_skip_verify(kubeconfig, write):
    from runnerkit.cluster import client as kube

    cluster, user = _cluster(kubeconfig), yaml.safe_load(open(kubeconfig))["users"][0]["user"]
    good = kube.connect(write(kubeconfig_doc({**cluster, "tls-server-name": "kubernetes.default"}, user), "sni"))
    assert good.request("GET", "/version")["major"] == "1"
    wrong = kube.connect(write(kubeconfig_doc({**cluster, "tls-server-name": "elsewhere.example"}, user), "bad"))
    with pytest.raises(Unreachable, match="TLS verification"):
        wrong.request("GET", "/version")
    insecure = {"server": cluster["server"], "insecure-skip-tls-verify": True}
    unverified = kube.connect(write(kubeconfig_doc(insecure, user), "insecure"))
    assert unverified.request("GET", "/version")["major"] == "1" and unverified.ca_pem() is None
