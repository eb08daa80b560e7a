"""The bench scripts against the real API server at tiny sizes, so they cannot rot. Pass/fail on exit code, the
JSON they write, and the request/write counts (which do not depend on the machine); never on time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

BENCH = ROOT / "bench"
KUBECTL = Path(os.environ.get("RUNNERKIT_CACHE", Path.home() / ".cache" / "runnerkit")) / "tools" / "v32" / "kubectl"


def bench(script: str, *args: str, tmp_path: Path) -> dict:
    out = tmp_path / f"{script}.json"
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    proc = subprocess.run([sys.executable, str(BENCH / f"{script}.py"), *args, "--json", str(out)],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "TMPDIR": str(tmpdir)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert list(tmpdir.iterdir()) == []  # no runnerkit-bench-* work dir left behind
    assert "|" in proc.stdout  # the table
    return json.loads(out.read_text())


def test_apply_bench_against_kubectl(kubeconfig, tmp_path):
    if not KUBECTL.exists():
        pytest.skip(f"needs kubectl 1.32 at {KUBECTL}: run scripts/fetch-helm-kubectl v32")
    report = bench("apply", "--projects", "2", "--repetitions", "1", "--settle", "0", "--no-wait",
                   "--kubeconfig", kubeconfig, "--kubectl", str(KUBECTL), tmp_path=tmp_path)
    assert report["kubectl"].startswith("v1.32")
    steps = {r["step"]: r for r in report["results"]}
    assert list(steps) == ["cold apply", "no-op re-apply", "prune half"]
    objects = 12  # 2 projects x (namespace, ServiceAccount, preset Role + RoleBinding, manager Role + RoleBinding)
    cold, noop, prune = steps["cold apply"], steps["no-op re-apply"], steps["prune half"]
    assert cold["runnerkit"]["writes"] == objects and cold["kubectl"]["writes"] == objects
    assert noop["runnerkit"]["writes"] == 0 and noop["runnerkit"]["requests"] <= 8
    assert noop["kubectl"]["writes"] == objects  # kubectl PATCHes everything again
    assert prune["runnerkit"]["by_method"].get("DELETE", 0) >= 1
    assert prune["kubectl"]["by_method"].get("DELETE") == 1  # the dropped project's namespace
    for r in report["results"]:
        assert r["ratio"] > 0 and len(r["runnerkit"]["seconds"]) == len(r["kubectl"]["seconds"]) == 1
    assert {t["target"].split(" of ")[0] for t in report["targets"]} == {"cold apply", "no-op re-apply"}


def test_audit_bench(kubeconfig, tmp_path):
    report = bench("audit", "--bindings", "50", "--service-accounts", "25", "--namespaces", "2",
                   "--repetitions", "1", "--no-wait", "--kubeconfig", kubeconfig, tmp_path=tmp_path)
    before, after = report["results"]
    seeded = report["seeded"]
    assert (seeded["bindings"], seeded["serviceAccounts"], seeded["namespaces"]) == (50, 25, 2)
    assert before["requests"] == after["requests"] > 0  # one list per kind, however many bindings
    assert set(after["by_method"]) == {"GET"}
    assert after["seeded_findings"] >= 1  # every 50th seeded binding grants cluster-admin to a ServiceAccount
    assert report["targets"][0]["met"] is True


def test_verify_bench_against_the_kubectl_sweep(kubeconfig, tmp_path):
    kubectl = KUBECTL.parent.parent / "v37" / "kubectl"
    if not kubectl.exists():
        kubectl = KUBECTL
    if not kubectl.exists():
        pytest.skip(f"needs kubectl at {kubectl}: run scripts/fetch-helm-kubectl v32")
    report = bench("verify", "--projects", "2", "--kubectl-accounts", "1", "--settle", "0", "--no-wait",
                   "--kubeconfig", kubeconfig, "--kubectl", str(kubectl), tmp_path=tmp_path)
    (result,) = report["results"]
    rk, kc = result["runnerkit"], result["kubectl"]
    assert result["projects"] == 2 and rk["accounts"] == 3  # 2 projects and the runner manager
    assert rk["by_method"]["GET"] == 4  # ClusterRoles, ClusterRoleBindings, RoleBindings, Roles
    assert rk["by_method"]["POST"] == rk["reviews"]["sent"] < rk["reviews"]["questions"]
    assert kc["measured_accounts"] == 1 and kc["accounts"] == 2 and kc["requests"] > 0 and kc["peak_mb"] > 0
    assert [t["met"] for t in report["targets"]][:2] == [True, True]
