"""runnerkit verify on the real API server: a freshly applied spec verifies clean; a ClusterRoleBinding
added by hand, or a deleted RoleBinding, is drift (exit 1) with the binding named."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli
from runnerkit.cli import diagnose

RBAC = "rbac.authorization.k8s.io/v1"


def spec_text(u: str) -> str:
    return f"""apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata: {{name: rk-ver-{u}}}
runners:
  - {{name: gl, type: gitlab, namespace: rkver-run-{u}}}
projects:
  - name: web
    runner: gl
    namespace: rkver-web-{u}
    access:
      - preset: helm-deployer
        namespaces: [rkver-prod-{u}]
      - preset: viewer
      - name: templates
        rules:
          - {{apiGroups: [""], resources: [podtemplates], resourceNames: [build], verbs: [get]}}
  - name: api
    runner: gl
    namespace: rkver-api-{u}
    access:
      - preset: pod-reader
"""


@pytest.fixture
def applied(kubeconfig, make_namespace, unique, tmp_path):
    make_namespace(f"rkver-prod-{unique}")  # a target namespace must exist already
    spec = tmp_path / "runnerkit.yaml"
    spec.write_text(spec_text(unique))
    r = run_cli("apply", spec, "--kubeconfig", kubeconfig)
    assert r.code == 0, r
    yield spec
    run_cli("delete", spec, "--delete-namespaces", "--kubeconfig", kubeconfig)


@pytest.fixture
def clients(monkeypatch):
    """The clients verify connects with, to count what they sent."""
    made = []
    real = diagnose.connect

    def recording(args, concurrency=None):
        client = real(args, concurrency)
        made.append(client)
        return client

    monkeypatch.setattr(diagnose, "connect", recording)
    return made


def test_a_freshly_applied_spec_verifies_clean(kubeconfig, applied, unique, clients):
    r = run_cli("verify", applied, "--kubeconfig", kubeconfig)
    assert r.code == 0, r
    out = r.out
    assert f"project web: ServiceAccount rkver-web-{unique}/web-ci" in out
    assert f"  ✔ grant helm-deployer: 216 permissions effective (rkver-web-{unique}, rkver-prod-{unique})" in out
    assert f"  ✔ grant templates: 1 permission effective (rkver-web-{unique})" in out
    assert f"runner gl (manager): ServiceAccount rkver-run-{unique}/gitlab-runner" in out
    assert f"  ✔ grant runner manager rules: 48 permissions effective (rkver-web-{unique}, rkver-api-{unique})" in out
    assert "!" not in out.replace("! allowed but not declared", "") and "✘ " not in out.replace("✘ declared but", "")
    assert out.rstrip().splitlines()[-1].startswith("ok: 3 ServiceAccounts have exactly the access runnerkit.yaml declares")
    (client,) = clients
    lists = [req for req in client.requests if req[0] == "GET"]
    assert sorted(lists) == [("GET", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"),
                             ("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles"),
                             ("GET", "/apis/rbac.authorization.k8s.io/v1/rolebindings")]
    reviews = int(out.rstrip().rsplit("(", 1)[1].split()[0])
    assert client.requests.count(("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews")) == reviews
    assert len(client.requests) == reviews + 3


def test_a_cluster_role_binding_added_by_hand_is_drift(kube, kubeconfig, applied, unique):
    by_hand = {"apiVersion": RBAC, "kind": "ClusterRoleBinding", "metadata": {"name": f"rkver-{unique}-by-hand"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
               "subjects": [{"kind": "ServiceAccount", "name": "api-ci", "namespace": f"rkver-api-{unique}"}]}
    kube.apply(by_hand)
    try:
        r = run_cli("verify", applied, "--kubeconfig", kubeconfig, "--project", "api")
        assert r.code == 1, r
        assert (f"  ✘ not in runnerkit.yaml: ClusterRoleBinding/rkver-{unique}-by-hand (-> ClusterRole/view) "
                "names this ServiceAccount") in r.out
        lines = r.out.splitlines()
        leak_at = next(i for i, line in enumerate(lines) if line.startswith("  ✘ allowed but not declared"))
        assert f'ClusterRoleBinding "rkver-{unique}-by-hand"' in lines[leak_at]
        assert "      kube-system: list configmaps, pods" in lines[leak_at + 1:]
        assert r.out.rstrip().splitlines()[-1].startswith("drift: ")
        data = json.loads(run_cli("verify", applied, "--kubeconfig", kubeconfig, "--project", "api", "-o", "json").out)
        api = data["accounts"][0]
        assert data["ok"] is False and api["user"] == f"system:serviceaccount:rkver-api-{unique}:api-ci"
        drift = {(d["request"], d["namespace"], d["declared"], d["allowed"]) for d in api["drift"]}
        assert ("list configmaps", "kube-system", False, True) in drift
        assert ("list pods", f"rkver-web-{unique}", False, True) in drift  # another project's namespace
        assert all(not d["declared"] for d in api["drift"])
        assert data["accounts"][1]["ok"] is True  # the runner manager is untouched
    finally:
        kube.delete(by_hand)


def test_a_deleted_role_binding_is_drift(kube, kubeconfig, applied, unique):
    kube.delete({"apiVersion": RBAC, "kind": "RoleBinding",
                 "metadata": {"name": "runnerkit-web-helm-deployer", "namespace": f"rkver-prod-{unique}"}})
    r = run_cli("verify", applied, "--kubeconfig", kubeconfig, "--project", "web")
    assert r.code == 1, r
    assert f"  ✘ grant helm-deployer: denied get secrets in rkver-prod-{unique}" in r.out
    lines = r.out.splitlines()
    denied = lines[lines.index("  ✘ declared but denied:") + 1]
    assert denied.startswith(f"      rkver-prod-{unique}: get/list/create/update/delete secrets; ")


def test_unknown_projects_fail_before_touching_the_cluster(applied, monkeypatch):
    monkeypatch.setattr(diagnose, "connect", lambda *a, **k: pytest.fail("must not connect"))
    r = run_cli("verify", applied, "--project", "nope")
    assert r.code == 2 and "no project named 'nope'" in r.err
