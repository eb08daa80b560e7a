"""A new user's first hour (issue #14), without a cluster: init, kubectl habits (global flags anywhere,
--dry-run strategies, -o yaml, completion, TTY-aware marks, --context), validate going on after a bad
name, audit's fix for runnerkit-managed bindings, the LICENSE."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, run_cli
from runnerkit import cli
from runnerkit.cli import globals as globals_
from runnerkit.cli.files import read_spec
from runnerkit.cli.terminal import Styled
from runnerkit.desired import render
from runnerkit.diagnose.audit import Inventory, audit

RUNNERKIT = [sys.executable, "-m", "runnerkit.cli"]


# -- init ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("flavour", [None, "--gitlab", "--github"])
def test_init_writes_a_spec_that_needs_no_namespace_it_does_not_create(tmp_path, flavour):
    path = tmp_path / "runnerkit.yaml"
    run = run_cli("init", str(path), *([flavour] if flavour else []))
    assert run.code == 0, run
    assert "runnerkit apply" in run.out and "runnerkit verify" in run.out
    spec = read_spec(str(path))
    objects = render(spec)
    created = {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"}
    used = {o["metadata"]["namespace"] for o in objects if o["metadata"].get("namespace")}
    assert used <= created, f"needs namespaces nobody creates: {sorted(used - created)}"
    if flavour:
        assert [p.name for p in spec.projects] == ["my-app"]
        assert [r.type for r in spec.runners.values()] == [flavour[2:]]


def test_init_comments_out_target_namespaces_with_the_reason():
    text = run_cli("init", "-").out
    line = next(li for li in text.splitlines() if "web-app-staging" in li)
    assert line.lstrip().startswith("# namespaces:")
    assert "must" in text and "exist already" in text and "empty cluster" in text


def test_init_flavours_exclude_each_other(tmp_path):
    run = run_cli("init", str(tmp_path / "x.yaml"), "--gitlab", "--github")
    assert run.code == 2 and "not allowed with" in run.err
    assert not (tmp_path / "x.yaml").exists()


# -- global flags, -o, --dry-run -----------------------------------------------------------------------

def spec_file(tmp_path: Path) -> str:
    path = tmp_path / "runnerkit.yaml"
    run_cli("init", str(path), "--gitlab")
    return str(path)


@pytest.mark.parametrize("before", [True, False])
def test_kubeconfig_and_context_before_or_after_the_subcommand(tmp_path, before):
    flags = ["--kubeconfig", str(tmp_path / "missing"), "--context", "x"]
    argv = [*flags, "apply", spec_file(tmp_path)] if before else ["apply", spec_file(tmp_path), *flags]
    run = run_cli(*argv)
    assert run.code == 2 and f"--kubeconfig {tmp_path / 'missing'}: no such file" in run.err, run


@pytest.mark.parametrize("argv", [["--debug", "validate", "missing.yaml"], ["validate", "missing.yaml", "--debug"]])
def test_debug_before_or_after_the_subcommand_shows_the_traceback(tmp_path, argv):
    os.chdir(tmp_path)
    run = run_cli(*argv)
    assert run.code == 2 and "Traceback (most recent call last)" in run.err
    assert run.err.rstrip().endswith("error: missing.yaml: no such file; create one with `runnerkit init`")


def test_output_before_the_subcommand_is_checked_against_its_formats(tmp_path):
    spec = spec_file(tmp_path)
    run = run_cli("-o", "json", "validate", spec)
    assert run.code == 0 and json.loads(run.out) == {"file": spec, "valid": True, "name": "ci",
                                                     "projects": ["my-app"], "runners": ["gitlab"]}
    assert yaml.safe_load(run_cli("validate", spec, "-o", "yaml").out) == json.loads(run.out)
    bad = run_cli("-o", "sarif", "validate", spec)
    assert bad.code == 2 and "invalid choice: 'sarif'" in bad.err
    assert run_cli("-o", "json", "init", "-").code == 2


REPORTING = {  # command -> formats every reporting command offers
    ("apply",): {"text", "json", "yaml"}, ("diff",): {"text", "json", "yaml"},
    ("delete",): {"text", "json", "yaml"}, ("validate",): {"text", "json", "yaml"},
    ("verify",): {"text", "json", "yaml"}, ("doctor",): {"text", "json", "yaml"},
    ("audit",): {"text", "table", "json", "yaml", "sarif"},
}


def leaf(*path: str):
    parser = cli.build_parser()
    for name in path:
        action = next(a for a in parser._actions if hasattr(a, "choices") and isinstance(a.choices, dict))
        parser = action.choices[name]
    return parser


@pytest.mark.parametrize("path", sorted(REPORTING))
def test_every_reporting_command_offers_text_json_and_yaml(path):
    p = leaf(*path)
    assert set(p._option_string_actions["-o"].choices) == REPORTING[path]


@pytest.mark.parametrize("argv, strategy", [
    (["apply", "runnerkit.yaml"], "none"),
    (["apply", "--dry-run", "runnerkit.yaml"], "server"),   # a bare --dry-run keeps the FILE
    (["apply", "runnerkit.yaml", "--dry-run"], "server"),
    (["apply", "--dry-run=client"], "client"),
    (["--kubeconfig", "k", "delete", "--dry-run", "--dry-run=client"], "client"),
    (["delete", "runnerkit.yaml", "--dry-run=none"], "none"),
])
def test_dry_run_strategies(argv, strategy):
    args = cli.build_parser().parse_args(globals_.normalize(argv))
    assert args.dry_run == strategy
    assert args.file == "runnerkit.yaml"


def test_dry_run_rejects_an_unknown_strategy():
    run = run_cli("apply", "--dry-run=maybe")
    assert run.code == 2 and "invalid choice: 'maybe'" in run.err


def test_other_dry_runs_stay_flags():
    args = cli.build_parser().parse_args(globals_.normalize(["gitlab", "push-variables", "p", "--dry-run"]))
    assert args.dry_run is True


# -- completion ---------------------------------------------------------------------------------------

def complete(script: str, *words: str) -> list[str]:
    probe = (script + "\nCOMP_WORDS=(" + " ".join(f"'{w}'" for w in words) + ")\n"
             "COMP_CWORD=$((${#COMP_WORDS[@]}-1))\n_runnerkit\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n")
    run = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    return run.stdout.split()


def test_bash_completion_walks_the_command_tree():
    script = run_cli("completion", "bash").out
    assert complete(script, "runnerkit", "ap") == ["apply"]
    assert complete(script, "runnerkit", "gitlab", "") == ["configure-runner", "rollback", "push-variables"]
    assert complete(script, "runnerkit", "apply", "-o", "") == ["text", "json", "yaml"]
    assert complete(script, "runnerkit", "apply", "--dry-run", "") == ["none", "client", "server"]
    assert complete(script, "runnerkit", "--context", "x", "export", "") == ["chart", "gitlab-component",
                                                                              "github-action"]
    assert "--prune" in complete(script, "runnerkit", "apply", "--pr")


def test_zsh_and_fish_completion_cover_the_same_tree():
    zsh = run_cli("completion", "zsh").out
    assert zsh.startswith("#compdef runnerkit") and "bashcompinit" in zsh and "_runnerkit()" in zsh
    fish = run_cli("completion", "fish").out
    assert "complete -c runnerkit -n 'test (__runnerkit_path) = \\'\\'' -a apply" in fish
    assert "-n 'test (__runnerkit_path) = \\'apply\\'' -l dry-run -x -a 'none client server'" in fish
    assert "-n 'test (__runnerkit_path) = \\'gitlab\\'' -a push-variables" in fish


# -- terminal: marks and colour -----------------------------------------------------------------------

class FakeStream:
    def __init__(self, tty: bool, encoding: str = "utf-8"):
        self.tty, self.encoding, self.text = tty, encoding, ""

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> int:
        text.encode(self.encoding)  # a real stream would raise here
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass


@pytest.mark.parametrize("tty, encoding, environ, expected", [
    (False, "utf-8", {}, "+ ok x no · —"),                                   # pipe: no symbols
    (True, "utf-8", {}, "\033[32m✔\033[0m ok \033[31m✘\033[0m no · —"),     # terminal: colour
    (True, "utf-8", {"NO_COLOR": "1"}, "✔ ok ✘ no · —"),                      # NO_COLOR
    (True, "latin-1", {}, "+ ok x no · -"),                                  # cannot encode ✔
    (False, "ascii", {}, "+ ok x no . -"),
])
def test_marks_and_colour_only_where_they_belong(tty, encoding, environ, expected):
    stream = FakeStream(tty, encoding)
    Styled(stream, environ).write("✔ ok ✘ no · —")
    assert stream.text == expected


def unreachable_kubeconfig(tmp_path: Path) -> Path:
    """doctor reports ✔ (credentials) and ✘ (connection) for it without any cluster."""
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "dev",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {"token": "t0ken-value"}}],
        "contexts": [{"name": "dev", "context": {"cluster": "c", "user": "u", "namespace": "app"}}]}))
    return path


def test_a_latin1_locale_does_not_crash_a_report(tmp_path):
    env = {**os.environ, "PYTHONIOENCODING": "latin-1"}
    run = subprocess.run([*RUNNERKIT, "doctor", "--kubeconfig", str(unreachable_kubeconfig(tmp_path))],
                         capture_output=True, env=env, timeout=60, cwd=tmp_path)
    assert b"Traceback" not in run.stderr, run.stderr.decode("latin-1")
    out = run.stdout.decode("latin-1")
    assert "  + kubectl and helm use kubeconfig" in out and "  x API server" in out, out
    assert run.returncode == 1


def test_symbols_on_a_tty_and_none_in_a_pipe(tmp_path):
    DOCTOR_OFFLINE = ["doctor", "--kubeconfig", str(unreachable_kubeconfig(tmp_path))]
    piped = subprocess.run([*RUNNERKIT, *DOCTOR_OFFLINE], capture_output=True, text=True, timeout=60)
    assert "✘" not in piped.stdout and "\033[" not in piped.stdout and "  x " in piped.stdout
    for environ, coloured in (({}, True), ({"NO_COLOR": "1"}, False)):
        main, child = pty.openpty()
        env = {**os.environ, "TERM": "xterm", "PYTHONIOENCODING": "utf-8", **environ}
        env.pop("NO_COLOR", None) if not environ else None
        proc = subprocess.run([*RUNNERKIT, *DOCTOR_OFFLINE], stdout=child, stderr=subprocess.DEVNULL,
                              env=env, timeout=60)
        os.close(child)
        out = b""
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        os.close(main)
        text = out.decode()
        assert proc.returncode == 1 and "✘" in text
        assert ("\033[31m✘\033[0m" in text) is coloured


# -- --context ----------------------------------------------------------------------------------------

def test_a_wrong_context_lists_the_valid_ones(tmp_path):
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "dev",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {"token": "t0ken-value"}}],
        "contexts": [{"name": n, "context": {"cluster": "c", "user": "u"}} for n in ("dev", "prod")]}))
    run = run_cli("--context", "staging", "verify", spec_file(tmp_path), "--kubeconfig", str(kubeconfig))
    assert run.code == 2
    assert run.err.strip() == "error: --context staging: no such context in the kubeconfig; valid contexts: dev, prod"


# -- validate, audit, LICENSE -------------------------------------------------------------------------

def test_validate_keeps_checking_a_project_after_an_invalid_name(tmp_path):
    path = tmp_path / "runnerkit.yaml"
    path.write_text("apiVersion: runnerkit.io/v1alpha1\nkind: RunnerkitConfig\nmetadata: {name: t}\n"
                    "runners:\n  - {name: gl, type: gitlab, namespace: gitlab-runner}\n"
                    "projects:\n  - name: Bad_Name\n    runner: nope\n    access:\n      - preset: nope\n")
    run = run_cli("validate", str(path))
    assert run.code == 2
    lines = run.err.splitlines()
    assert [li.split(": ")[2].split(" ")[0] for li in lines] == [
        "projects[0].name", "projects[0].runner", "projects[0].access[0].preset"]


def binding(name: str, namespace: str, labels: dict) -> dict:
    return {"metadata": {"name": name, "namespace": namespace, "labels": labels},
            "roleRef": {"kind": "Role", "name": name, "apiGroup": "rbac.authorization.k8s.io"},
            "subjects": [{"kind": "ServiceAccount", "name": "gitlab-runner", "namespace": "gitlab-runner"}]}


def test_audit_fix_for_a_runnerkit_managed_binding_changes_the_spec():
    managed = {"app.kubernetes.io/managed-by": "runnerkit", "runnerkit.io/spec": "platform-ci"}
    role = lambda ns: {"metadata": {"name": "r", "namespace": ns}, "rules": []}  # noqa: E731
    report = audit(Inventory(roles=[role("a"), role("b")],
                             role_bindings=[binding("r", "a", managed), binding("r", "b", {})]))
    by_ns = {f.binding.split(" -n ")[1]: f for f in report.findings}
    assert {f.check for f in report.findings} == {"dangling-subject"}
    assert by_ns["a"].managedBy == "platform-ci" and "change the spec, not the binding" in by_ns["a"].fix
    assert "runnerkit apply" in by_ns["a"].fix and "delete" not in by_ns["a"].fix
    assert by_ns["b"].managedBy == "" and by_ns["b"].fix.startswith("delete RoleBinding/r -n b")


def test_license_is_apache_2():
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert 'license = { text = "Apache-2.0" }' in (ROOT / "pyproject.toml").read_text()
