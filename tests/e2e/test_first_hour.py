"""A new user's first hour on the real API server: the quick start as written (init, apply, verify,
snippet) with zero errors, the warnings that replace silent traps, --dry-run strategies, and the
pinned keys of every reporting command's -o json / -o yaml."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import eventually, run_cli
from runnerkit.cluster import apply as apply_mod
from runnerkit.cluster.client import KubeClient
from runnerkit.model.kinds import BY_KIND

pytestmark = pytest.mark.e2e

RUNNERKIT = str(Path(sys.executable).parent / "runnerkit")  # the installed console script


def sh(cwd: Path, kubeconfig: str, *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KUBECONFIG": kubeconfig}
    return subprocess.run([RUNNERKIT, *argv], capture_output=True, text=True, timeout=300, cwd=cwd, env=env)


def no_errors(run: subprocess.CompletedProcess) -> None:
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "error" not in run.stderr.lower() and "Traceback" not in run.stderr, run.stderr


@pytest.mark.parametrize("flavour, snippets", [
    ([], [("gitlab", "web-app"), ("gitlab", "cicd"), ("github", "mobile")]),
    (["--gitlab"], [("gitlab", "my-app")]),
    (["--github"], [("github", "my-app")]),
])
def test_quick_start_as_written_reaches_apply_verify_and_snippet(kube, kubeconfig, tmp_path, flavour, snippets):
    no_errors(sh(tmp_path, kubeconfig, "init", *flavour))
    namespaces = {project for _, project in snippets}
    assert eventually(lambda: not any(kube.get(BY_KIND["Namespace"], ns) for ns in namespaces), 120)
    try:
        applied = sh(tmp_path, kubeconfig, "apply")
        no_errors(applied)
        assert " created" in applied.stdout and "0 writes" not in applied.stdout
        verified = sh(tmp_path, kubeconfig, "verify")
        no_errors(verified)
        assert "ok: " in verified.stdout.splitlines()[-1]
        for platform, project in snippets:
            snippet = sh(tmp_path, kubeconfig, "snippet", platform, project)
            no_errors(snippet)
            assert (f'KUBERNETES_NAMESPACE_OVERWRITE: "{project}"' if platform == "gitlab"
                    else f"namespace: {project}") in snippet.stdout
        again = sh(tmp_path, kubeconfig, "apply")
        assert again.returncode == 0 and "; 0 writes," in again.stdout
    finally:
        deleted = sh(tmp_path, kubeconfig, "delete", "--delete-namespaces")
        assert deleted.returncode == 0, deleted.stderr
        assert " deleted" in deleted.stdout and "pruned" not in deleted.stdout
        # the example's namespaces have fixed names: the next run needs them gone, not terminating
        assert eventually(lambda: not any(kube.get(BY_KIND["Namespace"], ns) for ns in namespaces), 120)


def one_gitlab_project(u: str, release: str = "gitlab-runner") -> str:
    return (f"apiVersion: runnerkit.io/v1alpha1\nkind: RunnerkitConfig\nmetadata: {{name: fh-{u}}}\n"
            f"runners:\n  - {{name: gl, type: gitlab, namespace: fh-runner-{u}, release: {release}}}\n"
            f"projects:\n  - {{name: fh-{u}, runner: gl, gitlab: {{projectIds: [7]}}, access: [{{preset: viewer}}]}}\n")


def test_apply_warns_in_one_line_when_the_runner_manager_account_is_missing(kube, kubeconfig, tmp_path, unique,
                                                                            make_namespace):
    path = tmp_path / "runnerkit.yaml"
    path.write_text(one_gitlab_project(unique, release="gitlab-runnr"))  # the typo of the issue
    try:
        run = run_cli("apply", str(path), "--kubeconfig", kubeconfig)
        assert run.code == 0, run
        warnings = [li for li in run.err.splitlines() if li.startswith("warning:")]
        assert warnings == [
            f"warning: ServiceAccount fh-runner-{unique}/gitlab-runnr-gitlab-runner does not exist: the GitLab runner manager "
            f"that should create job pods is not there yet; check runner 'gl' (release 'gitlab-runnr', "
            f"namespace 'fh-runner-{unique}') in {path}, or install the runner (the Role is bound anyway)"]
        data = json.loads(run_cli("apply", str(path), "--kubeconfig", kubeconfig, "-o", "json").out)
        assert data["warnings"] == [w[len("warning: "):] for w in warnings]

        path.write_text(one_gitlab_project(unique))  # fixed, and the runner is installed
        make_namespace(f"fh-runner-{unique}")
        kube.apply({"apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": "gitlab-runner", "namespace": f"fh-runner-{unique}"}})
        run = run_cli("apply", str(path), "--kubeconfig", kubeconfig)
        assert run.code == 0 and "warning" not in run.err, run
    finally:
        run_cli("delete", str(path), "--kubeconfig", kubeconfig, "--delete-namespaces")


def test_the_isolation_warning_can_be_acknowledged(kubeconfig, tmp_path, unique, monkeypatch):
    """A cluster without ValidatingAdmissionPolicy, as apply sees it: the policy kinds are not served."""
    original = apply_mod.read_live

    def without_policies(*args, **kwargs):
        live, unserved = original(*args, **kwargs)
        return live, unserved | {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}

    monkeypatch.setattr(apply_mod, "read_live", without_policies)
    path = tmp_path / "runnerkit.yaml"
    path.write_text(one_gitlab_project(unique))
    try:
        warned = run_cli("apply", str(path), "--kubeconfig", kubeconfig, "--dry-run=client")
        gap = [li for li in warned.err.splitlines() if "NOT enforced" in li]
        assert len(gap) == 1 and "--accept-unenforced-isolation" in gap[0]
        quiet = run_cli("apply", str(path), "--kubeconfig", kubeconfig, "--dry-run=client",
                        "--accept-unenforced-isolation")
        assert quiet.code == 0 and "NOT enforced" not in quiet.err
        required = run_cli("apply", str(path), "--kubeconfig", kubeconfig, "--accept-unenforced-isolation",
                           "--require-isolation")
        assert required.code == 1 and "nothing was changed" in required.err  # require wins
    finally:
        run_cli("delete", str(path), "--kubeconfig", kubeconfig, "--delete-namespaces")


@pytest.fixture
def recorded(monkeypatch):
    calls: list[tuple[str, str, dict]] = []
    original = KubeClient.request

    def request(self, method, path, *, query=None, **kw):
        calls.append((method, path, dict(query or {})))
        return original(self, method, path, query=query, **kw)

    monkeypatch.setattr(KubeClient, "request", request)
    return calls


def test_dry_run_client_sends_no_write_and_server_sends_dry_run_all(kube, kubeconfig, tmp_path, unique,
                                                                   recorded, make_namespace):
    path = tmp_path / "runnerkit.yaml"
    path.write_text(one_gitlab_project(unique))
    make_namespace(f"fh-{unique}")  # so the server can validate objects in it
    del recorded[:]
    client_run = run_cli("apply", "--dry-run=client", str(path), "--kubeconfig", kubeconfig, "-o", "json")
    report = json.loads(client_run.out)
    assert report["dryRun"] is True and report["dryRunStrategy"] == "client"
    assert {m for m, _, _ in recorded} == {"GET"} and report["writes"] == 0
    assert {o["action"] for o in report["objects"]} == {"created", "used"}  # a namespace it did not create

    del recorded[:]
    server_run = run_cli("apply", "--dry-run", str(path), "--kubeconfig", kubeconfig, "-o", "json")
    assert json.loads(server_run.out)["dryRunStrategy"] == "server"
    writes = [(m, q) for m, _, q in recorded if m != "GET"]
    assert writes and all(q.get("dryRun") == "All" for _, q in writes)
    assert kube.get(BY_KIND["ServiceAccount"], f"fh-{unique}-ci", f"fh-{unique}") is None  # nothing changed


PINNED = {  # the top-level keys CI scripts parse: changing one is a breaking change
    "apply": {"dryRun", "dryRunStrategy", "objects", "summary", "requests", "writes", "notes", "warnings"},
    "delete": {"dryRun", "dryRunStrategy", "objects", "summary", "requests", "writes", "notes", "warnings"},
    "diff": {"dryRun", "dryRunStrategy", "objects", "summary", "requests", "writes", "notes", "changed", "diff"},
    "validate": {"file", "valid", "name", "projects", "runners"},
    "verify": {"ok", "accounts", "isolation", "reviews", "scope"},
    "doctor": {"ok", "identity", "target", "checks"},
    "audit": {"findings", "runnerNamespaces", "audited", "summary"},
}
OBJECT_KEYS = {"kind", "namespace", "name", "action"}


def test_every_reporting_command_has_pinned_json_and_identical_yaml(kubeconfig, tmp_path, unique):
    path = tmp_path / "runnerkit.yaml"
    path.write_text(one_gitlab_project(unique))
    spec, kc = str(path), ["--kubeconfig", kubeconfig]
    commands = {
        "validate": ["validate", spec], "diff": ["diff", spec, *kc], "apply": ["apply", spec, *kc],
        "verify": ["verify", spec, *kc],
        "doctor": ["doctor", "--as", f"system:serviceaccount:fh-{unique}:fh-{unique}-ci", "--need", "viewer", *kc],
        "audit": ["audit", "-n", f"fh-{unique}", "--fail-on", "none", *kc],
        "delete": ["delete", spec, "--delete-namespaces", "--dry-run", *kc],
    }
    try:
        for name, argv in commands.items():
            as_json = run_cli(*argv, "-o", "json")
            assert as_json.code in (0, 1), (name, as_json)
            data = json.loads(as_json.out)
            assert set(data) == PINNED[name], name
            if "objects" in data:
                assert all(set(o) == OBJECT_KEYS for o in data["objects"]), name
            as_yaml = run_cli("-o", "yaml", *argv)  # -o before the subcommand as well
            assert as_yaml.code == as_json.code, (name, as_yaml)
            # the same document (a second run differs in counts and probe names, never in keys)
            assert set(yaml.safe_load(as_yaml.out)) == PINNED[name], name
        assert yaml.safe_load(run_cli("validate", spec, "-o", "yaml").out) == json.loads(
            run_cli("validate", spec, "-o", "json").out)
    finally:
        run_cli("delete", spec, "--delete-namespaces", *kc)


def test_latin1_verify_prints_ascii_marks(kubeconfig, tmp_path, unique):
    path = tmp_path / "runnerkit.yaml"
    path.write_text(one_gitlab_project(unique))
    try:
        assert run_cli("apply", str(path), "--kubeconfig", kubeconfig).code == 0
        env = {**os.environ, "PYTHONIOENCODING": "latin-1", "KUBECONFIG": kubeconfig}
        run = subprocess.run([sys.executable, "-m", "runnerkit.cli", "verify", str(path)], capture_output=True,
                             env=env, timeout=300)
        out = run.stdout.decode("latin-1")
        assert run.returncode == 0 and b"Traceback" not in run.stderr, out + run.stderr.decode("latin-1")
        assert "  + grant viewer:" in out and "✔" not in out
    finally:
        run_cli("delete", str(path), "--kubeconfig", kubeconfig, "--delete-namespaces")
