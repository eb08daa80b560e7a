"""Core commands against the real API server: the shipped example end to end, delete, bounded write
concurrency, in-cluster access, and the errors a user meets (terminating namespace, --debug)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from conftest import admin_cluster, run_cli, write_kubeconfig
from runnerkit.cli.files import read_spec
from runnerkit.cluster import apply
from runnerkit.cli.common import example_text
from runnerkit.model.kinds import BY_KIND, CONFIG_MAP
from runnerkit.desired import render

NS, SA = BY_KIND["Namespace"], BY_KIND["ServiceAccount"]


def example_with_suffix(u: str) -> dict:
    """The shipped example with unique names, so reruns on one cluster never meet a terminating namespace."""
    doc = yaml.safe_load(example_text())
    doc["metadata"]["name"] += f"-{u}"
    for runner in doc["runners"]:
        runner["namespace"] += f"-{u}"
    for project in doc["projects"]:
        project["name"] += f"-{u}"
        for grant in project.get("access", []):
            if "namespaces" in grant:
                grant["namespaces"] = [f"{n}-{u}" for n in grant["namespaces"]]
    return doc


def test_the_shipped_example_applies_and_a_second_apply_writes_nothing(kube, kubeconfig, unique, make_namespace,
                                                                       tmp_path):
    doc = example_with_suffix(unique)
    for grant in doc["projects"][0]["access"]:
        for ns in grant.get("namespaces", []):
            make_namespace(ns)
    path = tmp_path / "runnerkit.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    s = read_spec(path)
    served = render(s)  # every kind, the isolation policies included (Kubernetes >= 1.30)
    assert {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} <= {o["kind"] for o in served}
    try:
        first = run_cli("apply", path, "--kubeconfig", kubeconfig, "-o", "json")
        assert first.code == 0, first
        report = json.loads(first.out)
        assert report["summary"] == {"created": len(served)} and report["writes"] == len(served)

        second = run_cli("apply", path, "--kubeconfig", kubeconfig, "-o", "json")
        report = json.loads(second.out)
        assert second.code == 0, second
        assert report["summary"] == {"unchanged": len(served)}
        # one list per declared kind (8) and the GET of the GitLab runner manager's ServiceAccount
        assert report["writes"] == 0 and report["requests"] == len({o["kind"] for o in served}) + 1 == 9
        assert kube.get(SA, f"web-app-{unique}-ci", f"web-app-{unique}")["metadata"]["annotations"][
            "eks.amazonaws.com/role-arn"] == "arn:aws:iam::123456789012:role/web-app-ci"
    finally:
        apply.delete(kube, s.name, namespaces=True)


SMALL = """apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata: {{name: e2e-core-{u}}}
runners: [{{name: gl, type: gitlab, namespace: gitlab-runner-{u}, release: gitlab-runner}}]
defaults: {{runner: gl}}
projects:
{projects}
"""


def small_spec(tmp_path: Path, u: str, count: int, namespace: str | None = None) -> Path:
    projects = "".join(f"  - name: p{i}-{u}\n    access: [{{preset: pod-reader}}]\n"
                       + (f"    namespace: {namespace}\n" if namespace else "") for i in range(count))
    path = tmp_path / "runnerkit.yaml"
    path.write_text(SMALL.format(u=u, projects=projects))
    return path


def test_delete_keeps_namespaces_unless_asked_and_dry_run_changes_nothing(kube, kubeconfig, unique, tmp_path):
    path = small_spec(tmp_path, unique, 2)
    assert run_cli("apply", path, "--kubeconfig", kubeconfig).code == 0
    ns = f"p0-{unique}"
    try:
        dry = run_cli("delete", path, "--kubeconfig", kubeconfig, "--dry-run")
        assert dry.code == 0, dry
        assert f"serviceaccount/p0-{unique}-ci -n {ns} deleted (server dry run)" in dry.out  # delete deletes; apply --prune prunes
        assert "dry run: nothing was changed" in dry.out
        assert kube.get(SA, f"p0-{unique}-ci", ns) is not None

        kept = run_cli("delete", path, "--kubeconfig", kubeconfig)
        assert kept.code == 0, kept
        assert f"namespace/{ns} kept" in kept.out
        assert "pass --delete-namespaces to delete them" in kept.out
        assert kube.get(SA, f"p0-{unique}-ci", ns) is None
        live = kube.get(NS, ns)
        assert live is not None and live["metadata"].get("deletionTimestamp") is None

        again = run_cli("delete", path, "--kubeconfig", kubeconfig, "-o", "json")
        assert json.loads(again.out)["writes"] == 0  # namespaces stay managed, nothing else left
    finally:
        apply.delete(kube, f"e2e-core-{unique}", namespaces=True)


def test_writes_go_out_concurrently_and_never_above_the_bound(kubeconfig, unique, tmp_path, monkeypatch):
    import urllib3.connectionpool

    original = urllib3.connectionpool.HTTPConnectionPool.urlopen
    in_flight, peak, lock = [0], [0], threading.Lock()

    def counting(self, method, url, *args, **kwargs):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        try:
            time.sleep(0.01)  # keep requests overlapping long enough to be seen
            return original(self, method, url, *args, **kwargs)
        finally:
            with lock:
                in_flight[0] -= 1

    path = small_spec(tmp_path, unique, 6)
    monkeypatch.setattr(urllib3.connectionpool.HTTPConnectionPool, "urlopen", counting)
    try:
        r = run_cli("apply", path, "--kubeconfig", kubeconfig, "--concurrency", "3")
        assert r.code == 0, r
        assert peak[0] == 3  # 6 namespaces, then 18 accounts/roles and 6 bindings: 3 at a time
    finally:
        monkeypatch.undo()
        from runnerkit.cluster.client import connect
        apply.delete(connect(kubeconfig), f"e2e-core-{unique}", namespaces=True)


def test_concurrency_must_be_positive_and_its_default_is_documented(tmp_path):
    from runnerkit.cluster.client import DEFAULT_CONCURRENCY

    r = run_cli("apply", small_spec(tmp_path, "x", 1), "--concurrency", "0")
    assert r.code == 2 and "--concurrency" in r.err
    assert f"writes in flight at once (default: {DEFAULT_CONCURRENCY})" in run_cli("apply", "--help").out


def test_apply_in_a_pod_uses_the_mounted_service_account(kube, kubeconfig, unique, tmp_path, monkeypatch):
    """No kubeconfig anywhere: apply falls back to the in-cluster account, like kubectl."""
    from e2e.test_kubeconfig import default_sa_token, kubelet_mount

    ns = f"rk-pod-{unique}"
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    admin_binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                     "metadata": {"name": f"rk-pod-{unique}"},
                     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                 "name": "cluster-admin"},
                     "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": ns}]}
    kube.apply(admin_binding)
    server, ca = admin_cluster(kubeconfig)
    sa_dir = tmp_path / "serviceaccount"
    kubelet_mount(sa_dir, "..2024_01_01_00_00_00.1", default_sa_token(kube, ns), ca, ns)
    url = urlparse(server)
    monkeypatch.setenv("RUNNERKIT_SA_DIR", str(sa_dir))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", url.hostname)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(url.port))
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config
    monkeypatch.delenv("KUBECONFIG", raising=False)
    path = small_spec(tmp_path, unique, 1)
    try:
        r = run_cli("apply", path, "-o", "json")
        assert r.code == 0, r
        assert json.loads(r.out)["summary"] == {"created": 6}
        assert run_cli("apply", path, "--context", "other").code == 2  # no contexts in a pod
    finally:
        kube.delete(admin_binding)
        apply.delete(kube, f"e2e-core-{unique}", namespaces=True)
        kube.delete({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})


def test_a_terminating_namespace_is_explained(kube, kubeconfig, unique, tmp_path):
    ns = f"rk-term-{unique}"
    held = {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "held", "namespace": ns, "finalizers": ["runnerkit.io/test-hold"]}}
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    kube.request("POST", CONFIG_MAP.collection_path(ns), body=held)
    kube.delete({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    try:
        path = small_spec(tmp_path, unique, 1, namespace=ns)
        r = run_cli("apply", path, "--kubeconfig", kubeconfig)
        assert r.code == 3, r
        assert "being terminated" in r.err and "wait until the namespace is gone" in r.err
        assert "Traceback" not in r.err
    finally:
        kube.patch(CONFIG_MAP, "held", ns, {"metadata": {"finalizers": None}})


def test_debug_shows_the_traceback_that_errors_otherwise_hide(tmp_path):
    cfg = write_kubeconfig(tmp_path / "kubeconfig", "https://127.0.0.1:1", None, {"token": "abc"})
    path = small_spec(tmp_path, "x", 1)
    plain = run_cli("diff", path, "--kubeconfig", cfg)
    assert plain.code == 3 and "cannot reach" in plain.err and "Traceback" not in plain.err
    debug = run_cli("--debug", "diff", path, "--kubeconfig", cfg)
    assert debug.code == 3 and "Traceback (most recent call last)" in debug.err
    assert debug.err.rstrip().splitlines()[-1].startswith("error: cannot reach")
