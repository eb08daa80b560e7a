"""runnerkit.cluster.transport: requests on the official client's pool, with its auth on every request.
e2e: token and exec-plugin kubeconfigs authenticate against the real API server."""

from __future__ import annotations

import json
import sys

import pytest
import yaml

from conftest import kubeconfig_doc
from runnerkit.cluster import transport
from runnerkit.errors import Forbidden, Unreachable


@pytest.fixture
def write(tmp_path):
    def write_doc(doc: dict, name: str = "kubeconfig") -> str:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(doc))
        return str(path)
    return write_doc


def test_query_and_body_encoding():
    assert transport.query_string({"labelSelector": "a.io/b=c", "force": True, "dryRun": None}) == \
        "?labelSelector=a.io/b%3Dc&force=true"
    assert transport.query_string(None) == ""
    assert transport.encode({"a": [1, "x"]}) == b'{"a":[1,"x"]}'
    assert transport.encode("raw: yaml") == b"raw: yaml" and transport.encode(None) is None


# -- against the real API server -----------------------------------------------------------------

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
    import time

    for _ in range(50):  # the authorizer sees a new RoleBinding once its informer has it
        try:
            client.request("GET", f"/api/v1/namespaces/{ns}/pods")
            return
        except Forbidden:
            time.sleep(0.1)
    client.request("GET", f"/api/v1/namespaces/{ns}/pods")


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


def test_request_body_is_compact_json(kube, unique):
    """What the server receives is what transport.encode produced (echoed back by a dry run)."""
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"t-{unique}", "namespace": "default"},
            "data": {"k": json.dumps({"nested": True})}}
    created = kube.request("POST", "/api/v1/namespaces/default/configmaps", query={"dryRun": "All"}, body=body)
    assert created["data"] == body["data"]
