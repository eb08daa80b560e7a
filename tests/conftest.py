"""Shared test helpers. e2e tests need RUNNERKIT_E2E_KUBECONFIG (set by scripts/test)."""

from __future__ import annotations

import base64
import difflib
import io
import os
import shutil
import time
import uuid
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import yaml

from runnerkit import cli

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
FIXTURES = TESTS / "fixtures"
CACHE = Path(os.environ.get("RUNNERKIT_CACHE") or Path.home() / ".cache" / "runnerkit")
# kubectl 1.32 as fetched by scripts/test (scripts/fetch-helm-kubectl v32), else one on PATH.
_CACHED_KUBECTL = CACHE / "tools" / "v32" / "kubectl"
KUBECTL = str(_CACHED_KUBECTL) if os.access(_CACHED_KUBECTL, os.X_OK) else shutil.which("kubectl")
NO_KUBECTL = "no kubectl: run scripts/fetch-helm-kubectl v32 (scripts/test does) or put one on PATH"
E2E_KUBECONFIG = os.environ.get("RUNNERKIT_E2E_KUBECONFIG")
needs_cluster = pytest.mark.skipif(
    not E2E_KUBECONFIG,
    reason="needs a real API server: run `scripts/test` or set RUNNERKIT_E2E_KUBECONFIG",
)


class Run:
    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err

    def __repr__(self) -> str:
        return f"Run(code={self.code}, out={self.out[-2000:]!r}, err={self.err[-2000:]!r})"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything under tests/e2e/ needs a real API server: marked e2e by folder, not by name."""
    e2e = TESTS / "e2e"
    for item in items:
        if e2e in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


def run_cli(*argv: str) -> Run:
    """Run the CLI in-process through its single entry point."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = cli.main([str(a) for a in argv])
        except SystemExit as e:  # argparse usage errors and --help
            code = e.code if isinstance(e.code, int) else 1
    return Run(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli_run():
    return run_cli


@pytest.fixture(scope="session")
def kubeconfig() -> str:
    if not E2E_KUBECONFIG:
        pytest.skip("needs a real API server: run `scripts/test` or set RUNNERKIT_E2E_KUBECONFIG")
    return E2E_KUBECONFIG


@pytest.fixture
def kube(kubeconfig):
    """An admin client on the e2e API server."""
    from runnerkit.cluster.client import connect

    return connect(kubeconfig)


@pytest.fixture
def unique():
    """A short unique suffix so e2e tests never collide (kr8s-style: one namespace set per test)."""
    return uuid.uuid4().hex[:6]


@pytest.fixture
def make_namespace(kube):
    """Create plain namespaces for a test and delete them afterwards."""
    created = []

    def make(name: str) -> str:
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        created.append(name)
        return name

    yield make
    for name in created:
        kube.delete({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    """(removed, added) lines between two texts."""
    removed, added = [], []
    for line in difflib.ndiff(before.splitlines(), after.splitlines()):
        if line.startswith("- "):
            removed.append(line[2:])
        elif line.startswith("+ "):
            added.append(line[2:])
    return removed, added


def admin_cluster(kubeconfig: str) -> tuple[str, bytes]:
    """(server URL, CA PEM) of the e2e cluster, from the admin kubeconfig."""
    cluster = yaml.safe_load(Path(kubeconfig).read_text())["clusters"][0]["cluster"]
    if "certificate-authority-data" in cluster:
        ca = base64.b64decode(cluster["certificate-authority-data"])
    else:
        ca = (Path(kubeconfig).parent / cluster["certificate-authority"]).read_bytes()
    return cluster["server"], ca


def kubeconfig_doc(cluster: dict, user: dict, namespace: str | None = None) -> dict:
    """A kubeconfig with one cluster, one user and one (current) context."""
    context = {"cluster": "k", "user": "u", **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "k", "cluster": cluster}], "users": [{"name": "u", "user": user}],
            "contexts": [{"name": "c", "context": context}]}


def write_kubeconfig(path: Path, server: str, ca: bytes | None, user: dict, namespace: str | None = None) -> Path:
    cluster = {"server": server, **({"certificate-authority-data": base64.b64encode(ca).decode()} if ca else {})}
    path.write_text(yaml.safe_dump(kubeconfig_doc(cluster, user, namespace)))
    return path


def one_project_spec(tag: str, u: str, access: str = "      - {preset: pod-reader}\n") -> str:
    """A spec with one github project `web` (ServiceAccount web-ci) in namespace rk{tag}-{u}."""
    return f"""apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata: {{name: rk-{tag}-{u}}}
runners:
  - {{name: arc, type: github, namespace: rk{tag}-{u}, release: arc-runner-set}}
projects:
  - name: web
    runner: arc
    namespace: rk{tag}-{u}
    serviceAccount: web-ci
    access:
{access}"""


@pytest.fixture
def provision(kubeconfig, tmp_path):
    """provision(text) applies a spec with `runnerkit apply` and returns its path; everything it
    created, namespaces included, is deleted after the test."""
    applied = []

    def apply_spec(text: str) -> Path:
        path = tmp_path / f"runnerkit-{len(applied)}.yaml"
        path.write_text(text)
        r = run_cli("apply", path, "--kubeconfig", kubeconfig)
        assert r.code == 0, r
        applied.append(path)
        return path

    yield apply_spec
    for path in applied:
        run_cli("delete", path, "--delete-namespaces", "--kubeconfig", kubeconfig)


def eventually(check, seconds: float = 5.0) -> bool:
    """check() until it is true or time is up. RBAC authorizes from an informer cache, so a binding
    written a moment ago may not count yet: allowed-checks right after an apply must wait for it."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


STRICT = os.environ.get("RUNNERKIT_TEST_STRICT") == "1"  # set by scripts/test


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In the test command every tool is installed and the cluster is up: a skip there means
    something is missing, and a missing tool is a failure, never a skip."""
    outcome = yield
    report = outcome.get_result()
    if STRICT and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped inside scripts/test, which must run everything: {reason}"
