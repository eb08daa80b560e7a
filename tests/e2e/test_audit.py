"""runnerkit audit on the real API server: a seeded bad cluster gives exactly the expected findings and
exit codes, a runnerkit-provisioned one audits clean, and the request count is a constant."""

from __future__ import annotations

import json
import time

import pytest
import yaml

from conftest import FIXTURES, run_cli
from runnerkit.diagnose.audit import Scope, audit
from runnerkit.cli.diagnose import collect
from runnerkit.model.kinds import BY_KIND, CONFIG_MAP
from runnerkit.cluster.client import connect

RBAC = "rbac.authorization.k8s.io/v1"
LISTS = {("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles"), ("GET", "/apis/rbac.authorization.k8s.io/v1/roles"),
         ("GET", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"),
         ("GET", "/apis/rbac.authorization.k8s.io/v1/rolebindings"), ("GET", "/api/v1/serviceaccounts"),
         ("GET", "/api/v1/configmaps")}


def overwrite_config_map(namespace: str) -> dict:
    docs = yaml.safe_load_all((FIXTURES / "gitlab-runner" / "already-overwrite.yaml").read_text())
    cm = next(d for d in docs if d and d["kind"] == "ConfigMap")
    cm["metadata"]["namespace"] = namespace
    return cm


def sa(ns: str, name: str) -> dict:
    return {"kind": "ServiceAccount", "name": name, "namespace": ns}


def crb(name: str, role: str, *subjects: dict) -> dict:
    return {"apiVersion": RBAC, "kind": "ClusterRoleBinding", "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": list(subjects)}


def wait_for_default_service_account(kube, ns: str) -> None:
    deadline = time.monotonic() + 30  # the controller-manager creates it shortly after the namespace
    while kube.get(BY_KIND["ServiceAccount"], "default", ns) is None:
        assert time.monotonic() < deadline, f"no default ServiceAccount in {ns}"
        time.sleep(0.2)


@pytest.fixture
def bad_cluster(kube, make_namespace, unique):
    """A runner namespace whose `default` ServiceAccount is cluster-admin, a `.*` overwrite template, and
    a hand-made ClusterRoleBinding that lets an app's deployer read every Secret."""
    runner, app = make_namespace(f"rkaud-run-{unique}"), make_namespace(f"rkaud-app-{unique}")
    kube.request("POST", CONFIG_MAP.collection_path(runner), body=overwrite_config_map(runner))
    kube.apply({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "deployer", "namespace": app}})
    reader = {"apiVersion": RBAC, "kind": "ClusterRole", "metadata": {"name": f"rkaud-{unique}-secret-reader"},
              "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]}
    admin = crb(f"rkaud-{unique}-admin", "cluster-admin", sa(runner, "default"))
    by_hand = crb(f"rkaud-{unique}-secrets", reader["metadata"]["name"], sa(app, "deployer"))
    cluster_objects = [reader, admin, by_hand]
    for obj in cluster_objects:
        kube.apply(obj)
    wait_for_default_service_account(kube, runner)
    yield runner, app, admin, by_hand
    for obj in cluster_objects:
        kube.delete(obj)


def findings(run) -> set[tuple]:
    return {(f["severity"], f["check"], f["subject"], f["binding"], f["rule"]) for f in json.loads(run.out)["findings"]}


def test_seeded_scenario_gives_exactly_these_findings(kubeconfig, bad_cluster, unique):
    runner, app, admin, by_hand = bad_cluster
    scope = ["-n", runner, "-n", app]
    r = run_cli("audit", "--kubeconfig", kubeconfig, *scope, "-o", "json")
    assert r.code == 1, r
    template = "config.template.toml [[runners]][0].kubernetes."
    reach = [f for f in findings(r) if f[1] == "runner-reach"]
    assert findings(r) - set(reach) == {
        ("MEDIUM", "runner-any-image", f"ConfigMap {runner}/gitlab-runner", "", template[:-1] + ".allowed_images is empty"),
        ("MEDIUM", "runner-any-image", f"ConfigMap {runner}/gitlab-runner", "", template[:-1] + ".allowed_services is empty"),
        ("CRITICAL", "default-sa-admin", f"ServiceAccount {runner}/default", f"ClusterRoleBinding/rkaud-{unique}-admin",
         'apiGroups: ["*"] resources: ["*"] verbs: ["*"]'),
        ("HIGH", "overwrite-any", f"ConfigMap {runner}/gitlab-runner", "", template + 'namespace_overwrite_allowed = ".*"'),
        ("HIGH", "overwrite-any", f"ConfigMap {runner}/gitlab-runner", "",
         template + 'service_account_overwrite_allowed = ".*"'),
        ("HIGH", "secrets-cluster-wide", f"ServiceAccount {app}/deployer", f"ClusterRoleBinding/rkaud-{unique}-secrets",
         'apiGroups: [""] resources: [secrets] verbs: [get, list]'),
    }
    assert runner in json.loads(r.out)["runnerNamespaces"]
    # ".*" regexes: jobs reach every listed ServiceAccount, the seeded ones among them, and the
    # bindings seeded above give them secrets everywhere (no extra request: audit's own lists).
    (line,) = reach
    assert line[0] == "INFO" and line[2] == f"ConfigMap {runner}/gitlab-runner runner [[runners]][0]"
    runs_as = dict(part.rsplit(" in ", 1)[::-1] for part in line[4].removeprefix("jobs may run as ").split("; ")
                   if " in " in part and "may read" not in part)
    assert "deployer" in runs_as[app].split(", ") and "default" in runs_as[runner].split(", ")
    assert "deployer may read secrets in every namespace" in line[4]
    assert "default may read secrets in every namespace" in line[4]

    table = run_cli("audit", "--kubeconfig", kubeconfig, *scope)
    assert table.code == 1
    lines = table.out.splitlines()
    assert lines[0].split() == ["SEVERITY", "CHECK", "SUBJECT", "BINDING", "RULE"]
    assert lines[1].split()[:5] == ["CRITICAL", "default-sa-admin", "ServiceAccount", f"{runner}/default",
                                    f"ClusterRoleBinding/rkaud-{unique}-admin"]
    assert "7 findings (1 critical, 3 high, 2 medium, 1 info)" in table.out

    assert run_cli("audit", "--kubeconfig", kubeconfig, *scope, "--fail-on", "critical").code == 1
    assert run_cli("audit", "--kubeconfig", kubeconfig, *scope, "--fail-on", "none").code == 0
    only_runners = run_cli("audit", "--kubeconfig", kubeconfig, *scope, "--runner-namespaces-only", "-o", "json")
    assert {f[2] for f in findings(only_runners)} == {f"ServiceAccount {runner}/default", f"ConfigMap {runner}/gitlab-runner",
                                                       f"ConfigMap {runner}/gitlab-runner runner [[runners]][0]"}
    sarif = json.loads(run_cli("audit", "--kubeconfig", kubeconfig, *scope, "-o", "sarif").out)
    assert sorted(res["ruleId"] for res in sarif["runs"][0]["results"]) == [
        "default-sa-admin", "overwrite-any", "overwrite-any", "runner-any-image", "runner-any-image",
        "runner-reach", "secrets-cluster-wide"]


def test_exit_codes_follow_the_worst_finding(kube, kubeconfig, bad_cluster):
    runner, app, admin, _ = bad_cluster
    kube.delete(admin)
    scope = ["--kubeconfig", kubeconfig, "-n", runner, "-n", app]
    assert run_cli("audit", *scope, "--fail-on", "critical").code == 0
    assert run_cli("audit", *scope, "--fail-on", "high").code == 1
    assert run_cli("audit", *scope).code == 1  # default: any finding


def test_a_runnerkit_provisioned_cluster_audits_clean(kube, kubeconfig, make_namespace, unique, tmp_path):
    runner = make_namespace(f"rkaudc-run-{unique}")
    kube.apply({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "gitlab-runner", "namespace": runner}})
    spec = tmp_path / "runnerkit.yaml"
    spec.write_text(f"""apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata: {{name: rk-audc-{unique}}}
runners:
  - {{name: gl, type: gitlab, namespace: {runner}}}
projects:
  - name: web
    runner: gl
    namespace: rkaudc-web-{unique}
    access:
      - preset: helm-deployer
      - preset: viewer
  - name: cicd
    runner: gl
    namespace: rkaudc-cicd-{unique}
    access:
      - preset: kpack-builder
      - preset: pod-reader
""")
    assert run_cli("apply", spec, "--kubeconfig", kubeconfig).code == 0
    try:
        r = run_cli("audit", "--kubeconfig", kubeconfig, "-n", runner, "-n", f"rkaudc-web-{unique}",
                    "-n", f"rkaudc-cicd-{unique}", "--spec", spec)
        assert r.code == 0, r
        assert r.out.startswith("no findings\n")
    finally:
        run_cli("delete", spec, "--delete-namespaces", "--kubeconfig", kubeconfig)


def test_request_count_is_constant_in_the_number_of_bindings(kube, kubeconfig, make_namespace, unique):
    ns = make_namespace(f"rkaudn-{unique}")
    kube.apply({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "bot", "namespace": ns}})
    kube.apply({"apiVersion": RBAC, "kind": "Role", "metadata": {"name": "minter", "namespace": ns},
                "rules": [{"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]}]})

    def seed(n: int) -> None:
        kube.parallel(kube.apply, [
            {"apiVersion": RBAC, "kind": "RoleBinding", "metadata": {"name": f"b-{i}", "namespace": ns},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "minter"},
             "subjects": [sa(ns, "bot")]} for i in range(n)])

    def run():
        client = connect(kubeconfig)
        report = audit(collect(client), Scope(namespaces=frozenset({ns})))
        return client.requests, report

    seed(20)
    requests_20, report_20 = run()
    seed(200)
    requests_200, report_200 = run()  # the request count is the contract; bench/audit.py times it
    assert sorted(requests_20) == sorted(requests_200)
    assert set(requests_200) == LISTS and len(requests_200) == len(LISTS)  # one list per kind, nothing else
    assert [f.check for f in report_20.findings] == ["sa-token"] * 20
    assert [f.check for f in report_200.findings] == ["sa-token"] * 200
    assert report_200.counts["RoleBindings"] >= 200
