"""apply through a fault-injecting proxy in front of the real API server: 429/503 storms, resets
before an answer and in the middle of a body. apply completes (the retry policy) or fails with one
line; a re-run converges, and then an apply writes nothing."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
import yaml

from conftest import admin_cluster, run_cli
from faultproxy import FaultProxy


def spec_text(u: str, projects: int = 4) -> str:
    body = "".join(f"  - {{name: p{i}, runner: arc, namespace: rkf{i}-{u}, access: [{{preset: pod-reader}}]}}\n"
                   for i in range(projects))
    return (f"apiVersion: runnerkit.io/v1alpha1\nkind: RunnerkitConfig\nmetadata: {{name: rkf-{u}}}\n"
            f"runners: [{{name: arc, type: github, namespace: arc-{u}}}]\nprojects:\n{body}")


@pytest.fixture
def proxied(kubeconfig, tmp_path):
    """(make_proxy(rate, seed, faults) -> kubeconfig path through it)."""
    server, ca = admin_cluster(kubeconfig)
    pki = Path(os.environ.get("RUNNERKIT_E2E_DIR") or Path(kubeconfig).parent) / "pki"
    if not (pki / "apiserver.key").exists():
        pytest.fail(f"the e2e cluster's pki is not at {pki}: set RUNNERKIT_E2E_DIR")
    admin = yaml.safe_load(Path(kubeconfig).read_text())
    proxies = []

    def make(rate: float, seed: int, faults=None) -> tuple[Path, FaultProxy]:
        proxy = FaultProxy(server, pki, rate, seed, **({"faults": faults} if faults else {}))
        proxies.append(proxy)
        doc = {**admin, "clusters": [{"name": admin["clusters"][0]["name"],
                                      "cluster": {"server": proxy.url,
                                                  "certificate-authority-data": base64.b64encode(ca).decode()}}]}
        path = tmp_path / f"proxy-{len(proxies)}.kubeconfig"
        path.write_text(yaml.safe_dump(doc))
        return path, proxy

    yield make
    for p in proxies:
        p.close()


def one_line_or_ok(r) -> None:
    assert "Traceback" not in r.err
    if r.code != 0:
        assert r.code == 3, r
        assert len([l for l in r.err.splitlines() if l.startswith("error:")]) == 1, r


@pytest.mark.parametrize("seed", [1, 2])
def test_apply_through_a_storm_completes_or_fails_cleanly_and_converges(kubeconfig, proxied, tmp_path, unique,
                                                                      seed, kube):
    spec = tmp_path / "runnerkit.yaml"
    spec.write_text(spec_text(f"{unique}{seed}"))
    cfg, proxy = proxied(rate=0.35, seed=seed)
    try:
        for _ in range(5):  # the faults are random: re-runs must make progress and converge
            r = run_cli("--timeout", "20", "apply", spec, "--kubeconfig", cfg, "-o", "json")
            one_line_or_ok(r)
            if r.code == 0:
                break
        assert r.code == 0, r
        assert all(proxy.counts[f] > 0 for f in ("429", "503", "reset", "reset-mid-body")), proxy.counts
        direct = run_cli("apply", spec, "--kubeconfig", kubeconfig, "-o", "json")
        assert direct.code == 0 and '"writes": 0' in direct.out, direct
        again = run_cli("--timeout", "20", "apply", spec, "--kubeconfig", cfg, "-o", "json")
        one_line_or_ok(again)
        assert again.code != 0 or '"writes": 0' in again.out
    finally:
        run_cli("delete", spec, "--delete-namespaces", "--kubeconfig", kubeconfig)


def test_a_503_storm_fails_with_one_line_within_the_deadline(kubeconfig, proxied, tmp_path, unique):
    import time

    spec = tmp_path / "runnerkit.yaml"
    spec.write_text(spec_text(unique, 1))
    cfg, proxy = proxied(rate=1.0, seed=3, faults=("503",))
    start = time.monotonic()
    r = run_cli("--timeout", "3", "apply", spec, "--kubeconfig", cfg)
    assert time.monotonic() - start < 10
    assert r.code == 3 and "HTTP 503" in r.err and len(r.err.strip().splitlines()) == 1, r
    assert proxy.counts["forwarded"] == 0 and proxy.counts["503"] >= 2
