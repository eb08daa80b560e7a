"""runnerkit token: TokenRequest for a project's ServiceAccount on the real API server."""

from __future__ import annotations

import json
import stat
import time

import pytest
import yaml

from conftest import one_project_spec, run_cli
from runnerkit.cluster import client as kube_mod
from runnerkit.cluster.incluster import token_claims
from runnerkit.model.kinds import BY_KIND, SECRET



@pytest.fixture
def project(provision, unique):
    return provision(one_project_spec("tok", unique)), f"rktok-{unique}"


@pytest.fixture
def sent(monkeypatch):
    """Every (method, path) the command's client sends."""
    clients = []
    real = kube_mod.connect

    def spy(*args, **kwargs):
        clients.append(real(*args, **kwargs))
        return clients[-1]

    monkeypatch.setattr(kube_mod, "connect", spy)
    return lambda: [r for c in clients for r in c.requests]


def secret_names(kube, ns: str) -> set[str]:
    return {s["metadata"]["name"] for s in kube.list_objects(SECRET, namespace=ns)}


def settled_secrets(kube, ns: str) -> set[str]:
    """The namespace's Secrets once the API server's own token controller is done: before 1.24 it adds
    a legacy token Secret to every new ServiceAccount, asynchronously (that one is not ours)."""
    version = kube.request("GET", "/version")
    if int(version["major"]) == 1 and int(version["minor"].rstrip("+")) < 24:
        deadline = time.monotonic() + 30
        while not all((kube.get(BY_KIND["ServiceAccount"], sa, ns) or {}).get("secrets") for sa in ("web-ci", "default")):
            assert time.monotonic() < deadline, "token controller did not add its Secrets"
            time.sleep(0.2)
    return secret_names(kube, ns)


def test_minted_token_authenticates_as_the_sa_for_the_duration(kube, kubeconfig, project, sent):
    spec, ns = project
    before = settled_secrets(kube, ns)
    started = time.time()
    r = run_cli("token", "web", spec, "--duration", "15m", "-o", "json", "--kubeconfig", kubeconfig)
    assert r.code == 0, r
    out = json.loads(r.out)
    token = out["token"]
    assert out["identity"] == f"system:serviceaccount:{ns}:web-ci"
    claims = token_claims(token)
    assert claims["sub"] == f"system:serviceaccount:{ns}:web-ci"
    assert abs(claims["exp"] - (started + 900)) < 60  # duration honoured
    assert claims["exp"] - claims["iat"] == 900

    review = kube.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews",
                          body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                                "spec": {"token": token}})["status"]
    assert review["authenticated"] and review["user"]["username"] == f"system:serviceaccount:{ns}:web-ci"

    # TokenRequest only: no Secret written, none appeared.
    assert [m for m, p in sent() if m != "GET"] == ["POST"]
    assert [p for m, p in sent() if m == "POST"] == [f"/api/v1/namespaces/{ns}/serviceaccounts/web-ci/token"]
    assert secret_names(kube, ns) == before


def test_kubeconfig_output_is_ready_to_use(kube, kubeconfig, project, tmp_path):
    spec, ns = project
    path = tmp_path / "out" / "kubeconfig"
    r = run_cli("token", "web", spec, "-o", "kubeconfig", "--to", path, "--kubeconfig", kubeconfig)
    assert r.code == 0, r
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = yaml.safe_load(path.read_text())
    token = doc["users"][0]["user"]["token"]
    assert token not in r.out + r.err
    assert doc["contexts"][0]["context"]["namespace"] == ns
    assert "certificate-authority-data" in doc["clusters"][0]["cluster"]
    client = kube_mod.connect(str(path))  # verifies TLS with the embedded CA
    assert client.self_can("list", "pods", ns)
    assert not client.self_can("create", "pods", ns)
    assert not client.self_can("list", "secrets", ns)


def test_token_to_file_is_not_printed(kubeconfig, project, tmp_path):
    spec, ns = project
    path = tmp_path / "token"
    r = run_cli("token", "web", spec, "--to", path, "--audience", "vault", "--kubeconfig", kubeconfig)
    assert r.code == 0, r
    token = path.read_text().strip()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert token and token not in r.out + r.err
    assert f"system:serviceaccount:{ns}:web-ci" in r.err
    assert token_claims(token)["aud"] == ["vault"]


def test_raw_prints_only_the_token(kubeconfig, project):
    spec, ns = project
    r = run_cli("token", "web", spec, "-o", "raw", "--kubeconfig", kubeconfig)
    assert r.code == 0, r
    assert r.out.count("\n") == 1
    assert token_claims(r.out.strip())["sub"] == f"system:serviceaccount:{ns}:web-ci"


def test_unprovisioned_service_account_says_apply(kubeconfig, project, tmp_path):
    _, ns = project
    other = tmp_path / "other.yaml"  # declares a ServiceAccount nobody applied, in an existing namespace
    other.write_text(one_project_spec("tok", "x").replace("rk-tok-x", "rk-tok-other").replace("rktok-x", ns)
                     .replace("web-ci", "ghost-ci"))
    r = run_cli("token", "web", other, "-o", "raw", "--kubeconfig", kubeconfig)
    assert r.code == 3
    assert "does not exist" in r.err and "runnerkit apply" in r.err
