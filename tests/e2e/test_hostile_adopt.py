"""Never adopt or delete what runnerkit did not create, on the real API server.

Before, an existing unlabelled namespace named in a spec was silently labelled as the spec's own,
and `delete --delete-namespaces` then deleted it with the team's data."""

from __future__ import annotations

import pytest

from conftest import one_project_spec, run_cli
from runnerkit.model.kinds import BY_KIND, CONFIG_MAP

CM, NS, SA = CONFIG_MAP, BY_KIND["Namespace"], BY_KIND["ServiceAccount"]


@pytest.fixture
def team_namespace(kube, make_namespace, unique):
    """An existing namespace runnerkit did not create, holding a team's ConfigMap."""
    ns = make_namespace(f"rkad-{unique}")
    kube.request("POST", CM.collection_path(ns), body={"apiVersion": "v1", "kind": "ConfigMap",
                                                        "metadata": {"name": "data"}, "data": {"k": "precious"}})
    return ns


def write_spec(tmp_path, unique, extra: str = "") -> str:
    text = one_project_spec("ad", unique).replace("    serviceAccount: web-ci\n",
                                                   "    serviceAccount: web-ci\n" + extra)
    path = tmp_path / "runnerkit.yaml"
    path.write_text(text)
    return str(path)


def test_an_unlabelled_namespace_is_used_never_labelled_or_deleted(kube, kubeconfig, team_namespace,
                                                                   unique, tmp_path):
    spec = write_spec(tmp_path, unique)
    before = kube.get(NS, team_namespace)["metadata"].get("labels")
    r = run_cli("apply", spec, "--kubeconfig", kubeconfig)
    assert r.code == 0, r
    assert f"namespace/{team_namespace} used" in r.out
    assert "not created by runnerkit: used as it is" in r.out
    assert kube.get(NS, team_namespace)["metadata"].get("labels") == before
    assert kube.get(SA, "web-ci", team_namespace)

    r = run_cli("delete", spec, "--delete-namespaces", "--kubeconfig", kubeconfig)
    assert r.code == 0, r
    live = kube.get(NS, team_namespace)
    assert live and not live["metadata"].get("deletionTimestamp")
    assert kube.get(CM, "data", team_namespace)["data"] == {"k": "precious"}
    assert kube.get(SA, "web-ci", team_namespace) is None


def test_adopting_is_said_and_deleting_others_objects_needs_force(kube, kubeconfig, team_namespace,
                                                                  unique, tmp_path):
    spec = write_spec(tmp_path, unique, "    adoptNamespace: true\n")
    r = run_cli("apply", spec, "--kubeconfig", kubeconfig)
    assert r.code == 0, r
    assert f"adopting namespace {team_namespace} (adoptNamespace: true)" in r.out
    assert kube.get(NS, team_namespace)["metadata"]["labels"]["runnerkit.io/spec"] == f"rk-ad-{unique}"

    for extra in ((), ("--dry-run",)):
        r = run_cli("delete", spec, "--delete-namespaces", *extra, "--kubeconfig", kubeconfig)
        assert r.code == 2, r
        assert r.err.count("\n") == 1 and "configmap/data" in r.err and "--force" in r.err
        assert "nothing was changed" in r.err
    assert kube.get(CM, "data", team_namespace)
    assert kube.get(SA, "web-ci", team_namespace)

    r = run_cli("delete", spec, "--delete-namespaces", "--force", "--kubeconfig", kubeconfig)
    assert r.code == 0, r
    assert f"namespace/{team_namespace} deleted" in r.out  # delete reports deleted, apply --prune pruned
    live = kube.get(NS, team_namespace)
    assert live is None or live["metadata"].get("deletionTimestamp")


def test_prune_namespaces_refuses_a_namespace_with_others_objects(kube, kubeconfig, provision, unique, tmp_path):
    spec = provision(one_project_spec("pn", unique))
    ns = f"rkpn-{unique}"
    kube.request("POST", CM.collection_path(ns), body={"apiVersion": "v1", "kind": "ConfigMap",
                                                        "metadata": {"name": "notes"}})
    emptied = tmp_path / "emptied.yaml"
    emptied.write_text(spec.read_text().split("projects:")[0] + "projects: []\n")
    r = run_cli("apply", emptied, "--prune", "--prune-namespaces", "--kubeconfig", kubeconfig)
    assert r.code == 2 and f"namespace {ns} holds objects runnerkit does not manage: configmap/notes" in r.err, r
    assert kube.get(SA, "web-ci", ns)  # nothing pruned
    assert run_cli("apply", emptied, "--prune-namespaces", "--kubeconfig", kubeconfig).code == 2
