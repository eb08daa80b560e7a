"""Shared test helpers. e2e tests need RUNNERKIT_E2E_KUBECONFIG (set by scripts/test)."""

from __future__ import annotations

import io
import os
import shutil
import uuid
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from runnerkit import cli

FIXTURES = Path(__file__).parent / "fixtures"
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
    from runnerkit.kube import connect

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
