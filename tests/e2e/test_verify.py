"""runnerkit verify on the real API server: a freshly applied spec verifies clean; a ClusterRoleBinding
added by hand, or a deleted RoleBinding, is drift (exit 1) with the binding named."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli
from runnerkit.cli import diagnose
from runnerkit.diagnose.verify_scope import SENTINEL_NAMESPACE

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
    assert f"  + grant helm-deployer: 216 permissions effective (rkver-web-{unique}, rkver-prod-{unique})" in out
    assert f"  + grant templates: 1 permission effective (rkver-web-{unique})" in out
    assert f"runner gl (manager): ServiceAccount rkver-run-{unique}/gitlab-runner" in out
    assert f"  + grant runner manager rules: 48 permissions effective (rkver-web-{unique}, rkver-api-{unique})" in out
    assert "!" not in out.replace("! allowed but not declared", "") and not any(li.lstrip().startswith("x ") for li in out.splitlines())
    assert out.rstrip().splitlines()[-1].startswith("ok: 3 ServiceAccounts have exactly the access runnerkit.yaml declares")
    (client,) = clients
    lists = [req for req in client.requests if req[0] == "GET"]
    assert sorted(lists) == [("GET", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"),
                             ("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles"),
                             ("GET", "/apis/rbac.authorization.k8s.io/v1/rolebindings"),
                             ("GET", "/apis/rbac.authorization.k8s.io/v1/roles")]
    reviews = int(out.rstrip().rsplit("(", 1)[1].split()[0])
    assert client.requests.count(("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews")) == reviews
    assert len(client.requests) == reviews + 4


def test_a_cluster_role_binding_added_by_hand_is_drift(kube, kubeconfig, applied, unique):
    by_hand = {"apiVersion": RBAC, "kind": "ClusterRoleBinding", "metadata": {"name": f"rkver-{unique}-by-hand"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
               "subjects": [{"kind": "ServiceAccount", "name": "api-ci", "namespace": f"rkver-api-{unique}"}]}
    kube.apply(by_hand)
    try:
        r = run_cli("verify", applied, "--kubeconfig", kubeconfig, "--project", "api")
        assert r.code == 1, r
        assert (f"  x not in runnerkit.yaml: ClusterRoleBinding/rkver-{unique}-by-hand (-> ClusterRole/view) "
                "names this ServiceAccount") in r.out
        lines = r.out.splitlines()
        leak_at = next(i for i, line in enumerate(lines) if line.startswith("  x allowed but not declared"))
        assert f'ClusterRoleBinding "rkver-{unique}-by-hand"' in lines[leak_at]
        assert "      kube-system: list configmaps, pods" in lines[leak_at + 1:]
        assert r.out.rstrip().splitlines()[-1].startswith("drift: ")
        data = json.loads(run_cli("verify", applied, "--kubeconfig", kubeconfig, "--project", "api", "-o", "json").out)
        api = data["accounts"][0]
        assert data["ok"] is False and api["user"] == f"system:serviceaccount:rkver-api-{unique}:api-ci"
        drift = {(d["request"], d["namespace"], d["declared"], d["allowed"]) for d in api["drift"]}
        assert ("list configmaps", "kube-system", False, True) in drift
        # a ClusterRoleBinding reaches every namespace: the one that does not exist stands for them all
        assert ("list pods", SENTINEL_NAMESPACE, False, True) in drift
        assert all(not d["declared"] for d in api["drift"])
        assert data["accounts"][1]["ok"] is True  # the runner manager is untouched
    finally:
        kube.delete(by_hand)


def test_a_deleted_role_binding_is_drift(kube, kubeconfig, applied, unique):
    kube.delete({"apiVersion": RBAC, "kind": "RoleBinding",
                 "metadata": {"name": "runnerkit-web-helm-deployer", "namespace": f"rkver-prod-{unique}"}})
    r = run_cli("verify", applied, "--kubeconfig", kubeconfig, "--project", "web")
    assert r.code == 1, r
    assert f"  x grant helm-deployer: denied get secrets in rkver-prod-{unique}" in r.out
    lines = r.out.splitlines()
    denied = lines[lines.index("  x declared but denied:") + 1]
    assert denied.startswith(f"      rkver-prod-{unique}: get/list/create/update/delete secrets; ")


def test_unknown_projects_fail_before_touching_the_cluster(applied, monkeypatch):
    monkeypatch.setattr(diagnose, "connect", lambda *a, **k: pytest.fail("must not connect"))
    r = run_cli("verify", applied, "--project", "nope")
    assert r.code == 2 and "no project named 'nope'" in r.err


def test_a_role_binding_in_another_tenants_namespace_is_found_and_named(kube, kubeconfig, applied, unique):
    other = f"rkver-web-{unique}"
    by_hand = {"apiVersion": RBAC, "kind": "RoleBinding",
               "metadata": {"name": f"rkver-{unique}-peek", "namespace": other},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
               "subjects": [{"kind": "ServiceAccount", "name": "api-ci", "namespace": f"rkver-api-{unique}"}]}
    kube.apply(by_hand)
    try:
        r = run_cli("verify", applied, "--kubeconfig", kubeconfig)
        assert r.code == 1, r
        assert (f"  x not in runnerkit.yaml: RoleBinding/rkver-{unique}-peek -n {other} (-> ClusterRole/edit) "
                "names this ServiceAccount") in r.out
        api = r.out[r.out.index("project api:"):r.out.index("runner gl (manager)")]
        leak = next(line for line in api.splitlines() if line.startswith("  x allowed but not declared"))
        assert f'RoleBinding "rkver-{unique}-peek/{other}"' in leak
        assert (f"probed outside the accounts' own namespaces: kube-system, default and {SENTINEL_NAMESPACE} "
                f"(a namespace that does not exist), and 1 namespace where a RoleBinding names an account or "
                f"its groups ({other})") in r.out
        data = json.loads(run_cli("verify", applied, "--kubeconfig", kubeconfig, "-o", "json").out)
        web, api, runner = data["accounts"]
        assert web["ok"] and runner["ok"] and not api["ok"]
        assert api["probedNamespaces"] == ["kube-system", "default", SENTINEL_NAMESPACE, other]
        assert web["probedNamespaces"] == ["kube-system", "default", SENTINEL_NAMESPACE]
        drift = {(d["request"], d["namespace"]) for d in api["drift"]}
        assert {("get secrets", other), ("list secrets", other), ("create pods", other),
                ("create deployments.apps", other), ("create pods/exec", other)} <= drift
        assert {ns for _, ns in drift} == {other}  # nowhere else
        assert all(f"rkver-{unique}-peek" in d["reason"] for d in api["drift"])
    finally:
        kube.delete(by_hand)


def test_a_cluster_role_binding_to_every_service_account_is_drift_for_each(kube, kubeconfig, applied, unique):
    everyone = {"apiVersion": RBAC, "kind": "ClusterRoleBinding", "metadata": {"name": f"rkver-{unique}-everyone"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
                "subjects": [{"kind": "Group", "name": "system:serviceaccounts",
                              "apiGroup": "rbac.authorization.k8s.io"}]}
    kube.apply(everyone)
    try:
        data = json.loads(run_cli("verify", applied, "--kubeconfig", kubeconfig, "-o", "json").out)
        web, api, _ = data["accounts"]
        reason = (f'RBAC: allowed by ClusterRoleBinding "rkver-{unique}-everyone" of ClusterRole "view" '
                  'to Group "system:serviceaccounts"')
        for account in (web, api):
            drift = {(d["request"], d["namespace"]): d["reason"] for d in account["drift"]}
            assert drift[("list configmaps", "kube-system")] == reason
            assert drift[("list pods", SENTINEL_NAMESPACE)] == reason
        own = f"rkver-api-{unique}"  # pod-reader there, so view's services are undeclared
        assert {(d["request"], d["namespace"]): d["reason"] for d in api["drift"]}[("get services", own)] == reason
        assert api["matrix"][own]["services"]["list"] == "!"
        # a drift answered by another account's review was asked again for its own account
        assert 0 < data["reviews"]["driftsAskedAgain"] <= sum(len(a["drift"]) for a in data["accounts"])
        r = run_cli("verify", applied, "--kubeconfig", kubeconfig, "--project", "web")
        assert r.code == 1 and f"  x allowed but not declared ({reason}):" in r.out
    finally:
        kube.delete(everyone)


def test_without_shared_answers_every_question_is_its_own_review(kubeconfig, applied, clients):
    data = json.loads(run_cli("verify", applied, "--kubeconfig", kubeconfig, "--no-shared-answers", "-o", "json").out)
    assert data["ok"] is True and data["scope"]["sharedAnswers"] is False
    assert data["reviews"]["sent"] == data["reviews"]["questions"] > 500  # 3 accounts, each asking for itself
    (client,) = clients
    assert client.requests.count(("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews")) == data["reviews"]["sent"]
