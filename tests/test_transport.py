"""runnerkit.transport: plain kubeconfigs are read without the kubernetes client; everything else
falls back to it. e2e: both paths authenticate against the real API server."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap

import pytest
import yaml

from runnerkit import transport
from runnerkit.errors import Forbidden, Unreachable

CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nnot parsed here\n-----END CERTIFICATE-----\n").decode()


def config_doc(cluster: dict | None = None, user: dict | None = None, **extra) -> dict:
    return {"apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:6443", **(cluster or {})}}],
            "users": [{"name": "u", "user": user if user is not None else {"token": "abc"}}],
            "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}},
                         {"name": "other", "context": {"cluster": "k", "user": "u", "namespace": "x"}}],
            **extra}


@pytest.fixture
def write(tmp_path, monkeypatch):
    for proxy in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)

    def write(doc: dict, name: str = "config") -> str:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(doc))
        return str(path)
    return write


@pytest.mark.parametrize("change", [
    {"user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "aws"}}},
    {"user": {"auth-provider": {"name": "oidc", "config": {}}}},
    {"user": {"username": "admin", "password": "secret"}},
    {"user": {"token": "abc", "as": "someone-else"}},
    {"cluster": {"proxy-url": "http://proxy:3128"}},
    {"cluster": {"server": "unix:///run/k8s.sock"}},
])
def test_anything_but_plain_certificates_and_tokens_goes_to_the_kubernetes_loader(write, change):
    path = write(config_doc(change.get("cluster"), change.get("user")))
    assert transport.from_kubeconfig(path, None, 4) is None


def test_a_missing_context_or_a_broken_file_goes_to_the_kubernetes_loader_for_its_error(write, tmp_path):
    assert transport.from_kubeconfig(write(config_doc()), "nope", 4) is None
    broken = tmp_path / "broken"
    broken.write_text("clusters: [")
    assert transport.from_kubeconfig(str(broken), None, 4) is None
    assert transport.from_kubeconfig(str(tmp_path / "missing"), None, 4) is None


def test_proxies_from_the_environment_and_merged_kubeconfigs_go_to_the_kubernetes_loader(write, monkeypatch):
    path = write(config_doc())
    assert transport.from_kubeconfig(path, None, 4) is not None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")
    assert transport.from_kubeconfig(path, None, 4) is None
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # bypassed for this server: plain again
    assert transport.from_kubeconfig(path, None, 4) is not None
    monkeypatch.delenv("HTTPS_PROXY")
    monkeypatch.setenv("KUBECONFIG", f"{path}:{path}")
    assert transport.from_kubeconfig(None, None, 4) is None
    monkeypatch.setenv("KUBECONFIG", path)
    assert transport.from_kubeconfig(None, None, 4) is not None


def test_token_file_relative_to_the_kubeconfig_and_inline_token_wins(write, tmp_path):
    (tmp_path / "token").write_text("from-file\n")
    plain = transport.from_kubeconfig(write(config_doc(user={"tokenFile": "token"})), None, 4)
    assert plain._auth() == {"authorization": "Bearer from-file"}
    both = transport.from_kubeconfig(write(config_doc(user={"tokenFile": "token", "token": "inline"})), None, 4)
    assert both._auth() == {"authorization": "Bearer inline"}
    anonymous = transport.from_kubeconfig(write(config_doc(user={})), None, 4)
    assert anonymous._auth() == {}


def test_context_selects_cluster_and_path_prefix_is_kept(write):
    doc = config_doc({"insecure-skip-tls-verify": True})
    doc["clusters"].append({"name": "rancher", "cluster": {"server": "https://rancher.example/k8s/clusters/c-1/",
                                                           "insecure-skip-tls-verify": True}})
    doc["contexts"][1]["context"]["cluster"] = "rancher"
    assert transport.from_kubeconfig(write(doc), None, 4).host == "https://127.0.0.1:6443"
    plain = transport.from_kubeconfig(write(doc), "other", 4)
    assert plain.host == "https://rancher.example/k8s/clusters/c-1"
    sent = []
    plain._open = lambda method, target, **kw: sent.append((method, target, kw["headers"], kw["body"])) or \
        type("R", (), {"status": 200, "data": b"{}"})()
    assert plain.send("PATCH", "/api/v1/namespaces/a?fieldManager=runnerkit", b"{}", "application/apply-patch+yaml") \
        == (200, b"{}")
    method, target, headers, body = sent[0]
    assert (method, body) == ("PATCH", b"{}")
    assert headers["authorization"] == "Bearer abc" and headers["Content-Type"] == "application/apply-patch+yaml"
    assert headers["Accept"] == "application/json" and headers["User-Agent"].startswith("runnerkit/")


def test_unreadable_certificates_go_to_the_kubernetes_loader_for_its_error(write):
    assert transport.from_kubeconfig(write(config_doc({"certificate-authority-data": CA})), None, 4) is None
    assert transport.from_kubeconfig(write(config_doc({"certificate-authority": "missing.crt"})), None, 4) is None
    user = {"client-certificate": "missing.crt", "client-key": "missing.key"}
    assert transport.from_kubeconfig(write(config_doc(user=user)), None, 4) is None


def test_query_and_body_encoding():
    assert transport.query_string({"labelSelector": "a.io/b=c", "force": True, "dryRun": None}) == \
        "?labelSelector=a.io/b%3Dc&force=true"
    assert transport.query_string(None) == ""
    assert transport.encode({"a": [1, "x"]}) == b'{"a":[1,"x"]}'
    assert transport.encode("raw: yaml") == b"raw: yaml" and transport.encode(None) is None


# -- against the real API server -----------------------------------------------------------------

def test_plain_kubeconfig_talks_to_the_server_without_importing_kubernetes(kubeconfig):
    code = textwrap.dedent(f"""
        import sys
        from runnerkit import kube
        client = kube.connect({kubeconfig!r})
        names = [n["metadata"]["name"] for n in client.request("GET", "/api/v1/namespaces")["items"]]
        print("kube-system" in names, "kubernetes" in sys.modules, client.ca_pem().startswith(b"-----BEGIN"))
        print(client.api.configuration.host == client.host, "kubernetes" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "False", "True", "True", "True"]


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


def test_token_kubeconfig_is_plain_and_authenticates(kubeconfig, reader_token, write):
    from runnerkit import kube

    ns, token = reader_token
    path = write(kubeconfig_doc(_cluster(kubeconfig), {"token": token}), "token.kubeconfig")
    client = kube.connect(path)
    assert client._api is None  # no kubernetes client behind it
    _allowed_eventually(client, ns)
    with pytest.raises(Forbidden):
        client.request("GET", f"/api/v1/namespaces/{ns}/secrets")


def test_exec_plugin_kubeconfig_goes_through_the_kubernetes_loader(kubeconfig, reader_token, write, tmp_path):
    from runnerkit import kube

    ns, token = reader_token
    plugin = tmp_path / "plugin.py"
    plugin.write_text(f"import json\nprint(json.dumps({{'apiVersion': 'client.authentication.k8s.io/v1beta1', "
                      f"'kind': 'ExecCredential', 'status': {{'token': {token!r}}}}}))\n")
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": sys.executable,
                     "args": [str(plugin)]}}
    client = kube.connect(write(kubeconfig_doc(_cluster(kubeconfig), user), "exec.kubeconfig"))
    assert client._api is not None  # the kubernetes loader ran the plugin
    _allowed_eventually(client, ns)
    with pytest.raises(Forbidden):
        client.request("GET", f"/api/v1/namespaces/{ns}/secrets")


def test_tls_server_name_and_insecure_skip_verify(kubeconfig, write):
    from runnerkit import kube

    cluster, user = _cluster(kubeconfig), yaml.safe_load(open(kubeconfig))["users"][0]["user"]
    good = kube.connect(write(kubeconfig_doc({**cluster, "tls-server-name": "kubernetes.default"}, user), "sni"))
    assert good.request("GET", "/version")["major"] == "1"
    wrong = kube.connect(write(kubeconfig_doc({**cluster, "tls-server-name": "elsewhere.example"}, user), "bad"))
    with pytest.raises(Unreachable, match="TLS verification"):
        wrong.request("GET", "/version")
    insecure = {"server": cluster["server"], "insecure-skip-tls-verify": True}
    unverified = kube.connect(write(kubeconfig_doc(insecure, user), "insecure"))
    assert unverified.request("GET", "/version")["major"] == "1" and unverified.ca_pem() is None


def kubeconfig_doc(cluster: dict, user: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "k", "cluster": cluster}], "users": [{"name": "u", "user": user}],
            "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}


def test_request_body_is_compact_json(kube, unique):
    """What the server receives is what transport.encode produced (echoed back by a dry run)."""
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"t-{unique}", "namespace": "default"},
            "data": {"k": json.dumps({"nested": True})}}
    created = kube.request("POST", "/api/v1/namespaces/default/configmaps", query={"dryRun": "All"}, body=body)
    assert created["data"] == body["data"]
