"""runnerkit verify, the pure part: which access reviews are asked and what each must answer, which
bindings count as undeclared, and how drift is shown."""

from __future__ import annotations

import json

from runnerkit.diagnose import verify, verify_report
from runnerkit.model.rbac import Access, RoleIndex
from runnerkit.model.validate import loads

SPEC = """apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata: {name: v}
runners:
  - {name: gl, type: gitlab, namespace: runners}
projects:
  - name: web
    runner: gl
    access:
      - preset: helm-deployer
        namespaces: [web-prod]
      - clusterRole: view
      - name: settings
        rules:
          - {apiGroups: [""], resources: [podtemplates], resourceNames: [build], verbs: [get]}
  - name: ops
    runner: gl
    access:
      - name: nodes
        clusterWide: true
        rules:
          - {apiGroups: [""], resources: [nodes], verbs: [get, list]}
          - {apiGroups: [""], resources: [secrets], verbs: [list]}
"""
VIEW = {"metadata": {"name": "view"}, "rules": [
    {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list"]},
    {"apiGroups": [""], "resources": ["pods", "services"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["list"]},
]}


def plans():
    return verify.plan(loads(SPEC), RoleIndex([VIEW], []))


def questions(acct, **match):
    return [q for q in acct.questions if all(getattr(q, k) == v for k, v in match.items())]


def find(acct, text, namespace):
    from runnerkit.model.rbac import parse_access

    a = parse_access(text)
    return next(q for q in acct.questions if q.access == a and q.namespace == namespace)


def test_accounts_planned():
    web, ops, runner = plans()
    assert web.user == "system:serviceaccount:web:web-ci" and web.full
    assert ops.user == "system:serviceaccount:ops:ops-ci"
    assert runner.user == "system:serviceaccount:runners:gitlab-runner" and not runner.full
    assert list(web.matrix) == ["web", "web-prod"]


def test_declared_grants_are_proven_where_they_apply():
    web = plans()[0]
    helm = questions(web, kind="grant", label="helm-deployer")
    assert {q.namespace for q in helm} == {"web", "web-prod"} and len(helm) == 2 * 108  # own namespace too
    assert all(q.expected for q in web.questions if q.kind == "grant")
    # an existing ClusterRole: one representative request per rule, none cluster-scoped in a RoleBinding
    assert [(q.access, q.namespace) for q in questions(web, kind="grant", label="view")] == [
        (Access("get", "pods"), "web"), (Access("list", "deployments", "apps"), "web")]
    assert [q.access for q in questions(web, kind="grant", label="settings")] == [
        Access("get", "podtemplates", name="build")]


def test_the_matrix_and_probes_expect_exactly_what_is_declared():
    web, ops, _ = plans()
    assert find(web, "list secrets", "web-prod").expected          # helm-deployer there
    assert not find(web, "watch secrets", "web").expected          # helm-deployer has no watch on secrets
    assert find(web, "watch pods", "web").expected                  # view
    assert not find(web, "get podtemplates", "web").expected        # resourceNames only cover named requests
    assert find(web, "get configmaps", "web-prod").expected
    assert not find(web, "create pods/exec", "web").expected
    assert not find(web, "create serviceaccounts/token", "web").expected
    for ns in ("kube-system", "default", "ops"):
        assert not find(web, "list secrets", ns).expected
    assert not find(web, "create clusterrolebindings", None).expected
    assert not find(web, "impersonate serviceaccounts", None).expected
    # a cluster-wide grant covers every namespace and cluster-scoped resources
    assert find(ops, "list secrets", None).expected and find(ops, "list secrets", "kube-system").expected
    assert find(ops, "list nodes", None).expected
    assert not find(ops, "get secrets", "kube-system").expected
    # a request is asked once; only grants that overlap (helm-deployer and view both allow get pods) repeat it
    others = [q.key for q in web.questions if q.kind != "grant"]
    grants = {q.key for q in web.questions if q.kind == "grant"}
    assert len(others) == len(set(others)) and not grants & set(others)
    assert len(questions(web, access=Access("get", "pods"), namespace="web")) == 2


def test_a_missing_cluster_role_is_a_problem():
    (web, *_) = verify.plan(loads(SPEC), RoleIndex([], []), ["web"])
    assert web.problems == ["grant view: ClusterRole view does not exist in the cluster"]


def test_the_runner_manager_is_proven_in_every_project_namespace():
    runner = plans()[2]
    grants = questions(runner, kind="grant")
    assert {q.namespace for q in grants} == {"web", "ops"}
    assert Access("create", "pods/exec") in {q.access for q in grants}
    assert not find(runner, "list secrets", "kube-system").expected
    assert not find(runner, "create clusterrolebindings", None).expected
    assert not questions(runner, kind="matrix")


def binding(kind, name, role, *subjects, namespace=None):
    meta = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"kind": kind, "metadata": meta, "roleRef": {"kind": "ClusterRole", "name": role}, "subjects": list(subjects)}


def test_undeclared_bindings():
    spec = loads(SPEC)
    all_plans = verify.plan(spec, RoleIndex([VIEW], []))
    web_sa = {"kind": "ServiceAccount", "name": "web-ci", "namespace": "web"}
    bindings = [
        binding("RoleBinding", "runnerkit-web-helm-deployer", "x", web_sa, namespace="web-prod"),  # rendered
        binding("ClusterRoleBinding", "oops", "cluster-admin", web_sa),
        binding("RoleBinding", "as-user", "edit", {"kind": "User", "name": "system:serviceaccount:web:web-ci"},
                namespace="default"),
        binding("ClusterRoleBinding", "everyone", "view", {"kind": "Group", "name": "system:serviceaccounts"}),
        binding("RoleBinding", "chart", "admin", {"kind": "ServiceAccount", "name": "gitlab-runner",
                                                  "namespace": "runners"}, namespace="runners"),
        binding("ClusterRoleBinding", "runner-wide", "view", {"kind": "ServiceAccount", "name": "gitlab-runner",
                                                              "namespace": "runners"}),
    ]
    assert verify.undeclared_bindings(spec, all_plans, bindings) == {
        "system:serviceaccount:web:web-ci": ["ClusterRoleBinding/oops (-> ClusterRole/cluster-admin)",
                                             "RoleBinding/as-user -n default (-> ClusterRole/edit)"],
        "system:serviceaccount:runners:gitlab-runner": ["ClusterRoleBinding/runner-wide (-> ClusterRole/view)"],
    }


def test_compact_drift_lines():
    from runnerkit.model.rbac import parse_access

    qs = [verify.Question("u", parse_access(t), ns, False, "probe", "x") for t, ns in (
        ("get pods", "a"), ("list pods", "a"), ("get services", "a"), ("list services", "a"),
        ("create jobs.batch", "a"), ("list configmaps", "b"), ("create namespaces", None))]
    assert verify_report.compact(qs) == ["a: get/list pods, services; create jobs.batch", "b: list configmaps",
                                         "cluster-wide: create namespaces"]


def test_review_attributes_and_service_account_groups():
    from runnerkit.cluster import client as kube

    assert kube._sa_groups("system:serviceaccount:web:web-ci") == [
        "system:serviceaccounts", "system:serviceaccounts:web", "system:authenticated"]
    assert kube._attributes("create", "pods/exec", "web", "", None) == {
        "verb": "create", "resource": "pods", "group": "", "subresource": "exec", "namespace": "web"}


def test_report_when_everything_matches_and_when_it_drifts():
    web = verify.plan(loads(SPEC), RoleIndex([VIEW], []), ["web"])[0]
    answers = {q.key: (q.expected, "") for q in web.questions}
    ok = verify.VerifyOutcome(web, answers, [])
    assert ok.ok and ok.drift() == []
    text = verify_report.text([ok])
    assert text.splitlines()[0] == "project web: ServiceAccount web/web-ci"
    assert "  ✔ grant helm-deployer: 216 permissions effective (web, web-prod)" in text
    assert "  ✔ grant settings: 1 permission effective (web)" in text
    header = next(line for line in text.splitlines() if "RESOURCE" in line)
    assert header.split() == ["RESOURCE", "GET", "LIST", "WATCH", "CREATE", "UPDATE", "PATCH", "DELETE"]
    secrets = next(line for line in text.splitlines() if line.strip().startswith("secrets "))
    assert secrets.split()[1:] == ["✔", "✔", "·", "✔", "✔", "·", "✔"]  # helm-deployer: no watch, no patch
    templates = next(line for line in text.splitlines() if line.strip().startswith("podtemplates "))
    assert templates.split()[1:] == ["·"] * 7  # only a named get is declared
    assert text.rstrip().endswith("access reviews)") and text.rstrip().splitlines()[-1].startswith("ok: 1 ServiceAccount has exactly the access")

    leak = find(web, "list secrets", "kube-system")
    lost = find(web, "get pods", "web")
    answers[leak.key] = (True, 'RBAC: allowed by ClusterRoleBinding "oops" of ClusterRole "cluster-admin"')
    answers[lost.key] = (False, "")
    bad = verify.VerifyOutcome(web, answers, ["ClusterRoleBinding/oops (-> ClusterRole/cluster-admin)"])
    assert not bad.ok and set(bad.drift()) == {leak, lost}
    text = verify_report.text([bad])
    lines = text.splitlines()
    leak_at = lines.index('  ✘ allowed but not declared (RBAC: allowed by ClusterRoleBinding "oops" of ClusterRole '
                          '"cluster-admin"):')
    assert lines[leak_at + 1] == "      kube-system: list secrets"
    lost_at = lines.index("  ✘ declared but denied:")
    assert lines[lost_at + 1] == "      web: get pods"
    assert "  ✘ grant view: denied get pods in web" in text
    assert "  ✘ not in runnerkit.yaml: ClusterRoleBinding/oops (-> ClusterRole/cluster-admin) names this ServiceAccount" in text
    pods = next(line for line in text.splitlines() if line.strip().startswith("pods "))
    assert pods.split()[1:4] == ["✘", "✔", "✔"]
    assert text.rstrip().splitlines()[-1].startswith("drift: 3 differences in 1 of 1 ServiceAccount;")

    data = json.loads(json.dumps(verify_report.to_json([bad])))
    assert data["ok"] is False
    account = data["accounts"][0]
    assert {(d["request"], d["namespace"], d["declared"], d["allowed"]) for d in account["drift"]} == {
        ("list secrets", "kube-system", False, True), ("get pods", "web", True, False)}
    assert account["matrix"]["web"]["pods"] == {"get": "✘", "list": "✔", "watch": "✔", "create": "·",
                                                "update": "·", "patch": "·", "delete": "·"}
    assert account["undeclaredBindings"] == ["ClusterRoleBinding/oops (-> ClusterRole/cluster-admin)"]
