"""Projects that share or borrow a namespace, on the real API server: two specs with ServiceAccounts
in `default` side by side, re-applies that write nothing, deletes that leave the other spec and
the namespace intact, kept namespaces released for the next spec."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli
from runnerkit.model.kinds import BY_KIND

pytestmark = pytest.mark.e2e
SA, NS, RB = BY_KIND["ServiceAccount"], BY_KIND["Namespace"], BY_KIND["RoleBinding"]


def spec(name: str, projects: str) -> str:
    return f"""apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata: {{name: {name}}}
runners: [{{name: gh, type: github, namespace: arc}}]
projects:
{projects}"""


def apply_json(path, kubeconfig, *extra) -> dict:
    r = run_cli("apply", path, "--kubeconfig", kubeconfig, "-o", "json", *extra)
    assert r.code == 0, r
    return json.loads(r.out)


def test_two_specs_share_default_and_deleting_one_leaves_the_other(kube, kubeconfig, unique, tmp_path):
    u = unique
    a = tmp_path / "a.yaml"
    a.write_text(spec(f"seed-a-{u}", f"""  - {{name: deployer, runner: gh, namespace: default, allowDefaultNamespace: true,
     serviceAccount: deployer-{u},
     access: [{{preset: helm-deployer}}, {{clusterRole: view, clusterWide: true, name: view}}]}}
"""))
    b = tmp_path / "b.yaml"
    b.write_text(spec(f"seed-b-{u}", f"""  - {{name: deployer, runner: gh, namespace: default, allowDefaultNamespace: true,
     serviceAccount: other-{u},
     access: [{{preset: viewer}}, {{clusterRole: view, clusterWide: true, name: view}}]}}
  - {{name: checker, runner: gh, namespace: default, allowDefaultNamespace: true,
     serviceAccount: checker-{u}, access: [{{preset: pod-reader}}]}}
"""))
    default_before = kube.get(NS, "default")["metadata"].get("labels")
    try:
        first_a, first_b = apply_json(a, kubeconfig), apply_json(b, kubeconfig)
        assert first_a["writes"] > 0 and first_b["writes"] > 0
        assert not [o for o in first_a["objects"] + first_b["objects"] if o["kind"] == "Namespace"]
        for path in (a, b):
            again = apply_json(path, kubeconfig)
            assert again["writes"] == 0 and set(again["summary"]) == {"unchanged"}, again
        # Same project name in two specs: the cluster-scoped bindings carry the spec, so both exist.
        for s in (f"seed-a-{u}", f"seed-b-{u}"):
            assert kube.get(BY_KIND["ClusterRoleBinding"], f"runnerkit-{s}-deployer-view") is not None
        assert kube.get(NS, "default")["metadata"].get("labels") == default_before  # never labelled

        gone = run_cli("delete", a, "--delete-namespaces", "--kubeconfig", kubeconfig)
        assert gone.code == 0, gone
        assert kube.get(SA, f"deployer-{u}", "default") is None
        assert kube.get(BY_KIND["ClusterRoleBinding"], f"runnerkit-seed-a-{u}-deployer-view") is None
        assert kube.get(NS, "default") is not None
        for name in (f"other-{u}", f"checker-{u}"):
            assert kube.get(SA, name, "default") is not None
        assert kube.get(RB, "runnerkit-checker-pod-reader", "default") is not None
        again = apply_json(b, kubeconfig)
        assert again["writes"] == 0, again  # b did not notice
    finally:
        run_cli("delete", a, "--kubeconfig", kubeconfig)
        run_cli("delete", b, "--kubeconfig", kubeconfig)


def test_a_borrowed_namespace_must_exist_and_is_never_touched(kube, kubeconfig, unique, tmp_path, make_namespace):
    u = unique
    path = tmp_path / "borrow.yaml"
    path.write_text(spec(f"borrow-{u}", f"  - {{name: app, runner: gh, namespace: tools-{u}, manageNamespace: false}}\n"))
    missing = run_cli("apply", path, "--kubeconfig", kubeconfig)
    assert missing.code == 2 and f"namespace 'tools-{u}' does not exist" in missing.err, missing
    make_namespace(f"tools-{u}")
    apply_json(path, kubeconfig)
    assert run_cli("delete", path, "--delete-namespaces", "--kubeconfig", kubeconfig).code == 0
    ns = kube.get(NS, f"tools-{u}")
    assert ns is not None and ns["metadata"].get("deletionTimestamp") is None
    assert "runnerkit.io/spec" not in (ns["metadata"].get("labels") or {})


def test_a_kept_namespace_loses_our_labels_so_another_spec_can_manage_it(kube, kubeconfig, unique, tmp_path):
    u = unique
    first = tmp_path / "first.yaml"
    first.write_text(spec(f"first-{u}", f"  - {{name: app, runner: gh, namespace: team-{u}, "
                                         "namespaceLabels: {tier: ci}}\n"))
    second = tmp_path / "second.yaml"
    second.write_text(spec(f"second-{u}", f"  - {{name: app, runner: gh, namespace: team-{u}}}\n"))
    try:
        apply_json(first, kubeconfig)
        refused = run_cli("apply", second, "--kubeconfig", kubeconfig)
        assert refused.code == 2 and f"is managed by runnerkit spec 'first-{u}'" in refused.err
        kept = run_cli("delete", first, "--kubeconfig", kubeconfig, "-o", "json")
        assert kept.code == 0, kept
        assert {"kind": "Namespace", "namespace": None, "name": f"team-{u}", "action": "kept"} in \
            json.loads(kept.out)["objects"]
        labels = kube.get(NS, f"team-{u}")["metadata"]["labels"]
        assert labels == {"kubernetes.io/metadata.name": f"team-{u}"}  # ours (and tier) gone, the server's stays
        assert not (kube.get(NS, f"team-{u}")["metadata"].get("annotations") or {}).get("runnerkit.io/applied")
        # Unlabelled now, so never adopted silently: used as is, until the spec says adoptNamespace.
        used = apply_json(second, kubeconfig)
        assert any(o["kind"] == "Namespace" and o["action"] == "used" for o in used["objects"]), used
        assert "runnerkit.io/spec" not in kube.get(NS, f"team-{u}")["metadata"]["labels"]
        second.write_text(spec(f"second-{u}", f"  - {{name: app, runner: gh, namespace: team-{u}, "
                                               "adoptNamespace: true}\n"))
        taken = apply_json(second, kubeconfig)
        assert any(o["kind"] == "Namespace" and o["action"] == "configured" for o in taken["objects"]), taken
        assert kube.get(NS, f"team-{u}")["metadata"]["labels"]["runnerkit.io/spec"] == f"second-{u}"
    finally:
        run_cli("delete", second, "--delete-namespaces", "--kubeconfig", kubeconfig)
        run_cli("delete", first, "--delete-namespaces", "--kubeconfig", kubeconfig)
