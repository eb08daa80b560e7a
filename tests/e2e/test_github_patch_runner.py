"""patch-runner on the ARC fixture objects in the real API server: switch, idempotence, dry run,
namespace mismatch."""

from __future__ import annotations

import json
import time

import pytest
import yaml

from conftest import FIXTURES, run_cli
from runnerkit.cli.files import read_spec
from runnerkit.errors import InputError
from runnerkit.github.arc import RUNNER_KINDS
from runnerkit.github.runner import patch_runner, served

ARC = FIXTURES / "arc"
BY_KIND = {k.kind.kind: k for k in RUNNER_KINDS.values()}


def minimal_crd(source: dict) -> dict:
    """Same group/version/kind/plural as ARC's CRD, with a schema a 1.20 API server accepts
    (see tests/fixtures/arc/README.md)."""
    spec = source["spec"]
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": source["metadata"]["name"]},
            "spec": {"group": spec["group"], "names": spec["names"], "scope": spec["scope"],
                     "versions": [{"name": v["name"], "served": True, "storage": v["storage"],
                                   "schema": {"openAPIV3Schema": {"type": "object",
                                                                  "x-kubernetes-preserve-unknown-fields": True}},
                                   "subresources": {"status": {}}} for v in spec["versions"]]}}


@pytest.fixture(scope="module")
def arc_crds(kubeconfig):
    """Install the two ARC kinds (left installed: cluster-scoped and shared, harmless to others)."""
    from runnerkit.cluster.client import connect

    kube = connect(kubeconfig)
    for f in sorted((ARC / "crds").glob("*.yaml")):
        crd = minimal_crd(yaml.safe_load(f.read_text()))
        kube.request("PATCH", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd['metadata']['name']}",
                     query={"fieldManager": "runnerkit-tests", "force": "true"}, body=crd,
                     content_type="application/apply-patch+yaml")
    deadline = time.monotonic() + 30
    while not all(served(kube, k) for k in RUNNER_KINDS.values()):
        assert time.monotonic() < deadline, "ARC CRDs not served after 30s"
        time.sleep(0.3)


def spec_text(u: str, runner_ns: str) -> str:
    return f"""apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata: {{name: rk-pr-{u}}}
runners:
  - {{name: arc, type: github, namespace: {runner_ns}, release: arc-runner-set}}
projects:
  - name: web
    runner: arc
    namespace: rkpr-{u}
    serviceAccount: web-ci
    access: [{{preset: arc-kube-mode}}]
"""


@pytest.fixture
def setup(kubeconfig, unique, tmp_path, arc_crds):
    ns = f"rkpr-{unique}"
    path = tmp_path / "runnerkit.yaml"
    path.write_text(spec_text(unique, ns))
    r = run_cli("apply", path, "--kubeconfig", kubeconfig)
    assert r.code == 0, r
    yield path, read_spec(path), ns
    run_cli("delete", path, "--delete-namespaces", "--kubeconfig", kubeconfig)


def create(kube, fixture: str, kind: str, ns: str) -> dict:
    doc = next(d for d in yaml.safe_load_all((ARC / fixture).read_text()) if d and d["kind"] == kind)
    doc["metadata"]["namespace"] = ns
    return kube.request("POST", BY_KIND[kind].kind.collection_path(ns), body=doc)


@pytest.mark.parametrize("fixture,kind", [("scale-set-kube-mode.yaml", "AutoscalingRunnerSet"),
                                          ("runnerdeployment.yaml", "RunnerDeployment"),
                                          ("plain-deployment.yaml", "Deployment")])
def test_switches_once_then_changes_nothing(kube, setup, fixture, kind):
    _, spec, ns = setup
    project = spec.project("web")
    obj = create(kube, fixture, kind, ns)
    name, runner_kind = obj["metadata"]["name"], BY_KIND[kind]
    first = patch_runner(kube, project, name, ns, runner_kind.name)
    assert first.changed and first.new == "web-ci"
    live = kube.get(runner_kind.kind, name, ns)
    assert live["spec"]["template"]["spec"]["serviceAccountName"] == "web-ci"
    # Only the pod template's ServiceAccount changed.
    before = {k: v for k, v in obj["spec"]["template"]["spec"].items() if k not in ("serviceAccountName", "serviceAccount")}
    after = {k: v for k, v in live["spec"]["template"]["spec"].items() if k not in ("serviceAccountName", "serviceAccount")}
    assert before == after

    sent = len(kube.requests)
    second = patch_runner(kube, project, name, ns, runner_kind.name)
    assert not second.changed and second.old == "web-ci"
    assert {m for m, _ in kube.requests[sent:]} == {"GET"}  # no write request
    assert kube.get(runner_kind.kind, name, ns)["metadata"]["generation"] == live["metadata"]["generation"]


def test_cli_autodetects_the_scale_set_and_notes_helm(kube, kubeconfig, setup):
    path, _, ns = setup
    create(kube, "scale-set-default.yaml", "AutoscalingRunnerSet", ns)
    r = run_cli("github", "patch-runner", "web", path, "--kubeconfig", kubeconfig)
    assert r.code == 0, r
    assert "switched ServiceAccount arc-runner-set-gha-rs-no-permission -> web-ci" in r.out
    assert "managed by Helm" in r.err
    r = run_cli("github", "patch-runner", "web", path, "--kubeconfig", kubeconfig, "-o", "json")
    assert r.code == 0 and json.loads(r.out)["changed"] is False


def test_cli_dry_run_prints_the_diff_and_changes_nothing(kube, kubeconfig, setup):
    path, _, ns = setup
    obj = create(kube, "plain-deployment.yaml", "Deployment", ns)
    name = obj["metadata"]["name"]
    r = run_cli("github", "patch-runner", "web", path, "--kind", "deployment", "--name", name,
                "--dry-run", "--kubeconfig", kubeconfig)
    assert r.code == 0, r
    assert "+    serviceAccountName: web-ci" in r.out.splitlines()
    assert "would switch ServiceAccount default -> web-ci (dry run" in r.out
    live = kube.get(BY_KIND["Deployment"].kind, name, ns)
    assert live["metadata"]["generation"] == obj["metadata"]["generation"]  # status updates aside
    assert "serviceAccountName" not in live["spec"]["template"]["spec"]


def test_workload_in_another_namespace_is_refused_without_writing(kube, kubeconfig, setup, make_namespace, unique):
    path, spec, _ = setup
    other = make_namespace(f"rkpr-runners-{unique}")
    obj = create(kube, "runnerdeployment.yaml", "RunnerDeployment", other)
    sent = len(kube.requests)
    with pytest.raises(InputError) as e:
        patch_runner(kube, spec.project("web"), obj["metadata"]["name"], other, "runnerdeployment")
    assert f"namespace {other}" in str(e.value) and "its own namespace" in str(e.value)
    assert {m for m, _ in kube.requests[sent:]} == {"GET"}
    r = run_cli("github", "patch-runner", "web", path, "--kind", "runnerdeployment", "-n", other,
                "--name", obj["metadata"]["name"], "--kubeconfig", kubeconfig)
    assert r.code == 2 and "a pod can only use a" in r.err


def test_missing_workload_names_kind_and_namespace(kubeconfig, setup):
    path, _, ns = setup
    r = run_cli("github", "patch-runner", "web", path, "--kind", "autoscalingrunnerset", "--kubeconfig", kubeconfig)
    assert r.code == 2 and f"no AutoscalingRunnerSet named arc-runner-set in namespace {ns}" in r.err


def test_default_lookup_tries_project_then_runner_namespace(kube, kubeconfig, setup, make_namespace, unique, tmp_path):
    _, _, ns = setup
    runner_ns = make_namespace(f"rkpr-arc-{unique}")
    path = tmp_path / "split.yaml"  # the runner's Helm release lives in another namespace than the project
    path.write_text(spec_text(unique, runner_ns))
    create(kube, "scale-set-default.yaml", "AutoscalingRunnerSet", runner_ns)
    r = run_cli("github", "patch-runner", "web", path, "--kubeconfig", kubeconfig)
    assert r.code == 2, r
    assert f"runs its pods in namespace {runner_ns}" in r.err and f"lives in namespace {ns}" in r.err
    create(kube, "scale-set-default.yaml", "AutoscalingRunnerSet", ns)  # e.g. after namespaceOverride
    r = run_cli("github", "patch-runner", "web", path, "--kubeconfig", kubeconfig)
    assert r.code == 0 and f"-n {ns}: switched" in r.out
