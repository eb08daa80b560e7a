"""`runnerkit gitlab configure-runner` in file mode (values file, TOML file) through the CLI."""

from __future__ import annotations

import json
import tomllib

import pytest
import yaml

from conftest import FIXTURES, run_cli
from runnerkit.cli.common import example_text

CHART = FIXTURES / "gitlab-runner"
NS_REGEX, SA_REGEX = "^(?:cicd|web-app)$", "^(?:cicd-ci|web-app-ci)$"


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "runnerkit.yaml"
    path.write_text(example_text())
    return path


def overwrite_regexes(values_text: str) -> tuple[str, str]:
    kube = tomllib.loads(yaml.safe_load(values_text)["runners"]["config"])["runners"][0]["kubernetes"]
    return kube["namespace_overwrite_allowed"], kube["service_account_overwrite_allowed"]


def test_values_file_is_edited_in_place_and_a_second_run_is_a_no_op(spec_file, tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text((CHART / "values-already-overwrite.yaml").read_text())
    values.chmod(0o640)
    run = run_cli("gitlab", "configure-runner", spec_file, "--values-file", values)
    assert run.code == 0, run
    assert overwrite_regexes(values.read_text()) == (NS_REGEX, SA_REGEX)
    assert oct(values.stat().st_mode & 0o777) == "0o640"
    assert f"{values}: updated" in run.out and "helm upgrade gitlab-runner" in run.out
    assert not list(tmp_path.glob(".*runnerkit-tmp"))
    first = values.read_bytes()
    run = run_cli("gitlab", "configure-runner", spec_file, "--values-file", values)
    assert run.code == 0 and "already configured, unchanged" in run.out
    assert values.read_bytes() == first


def test_dry_run_prints_a_diff_and_writes_nothing(spec_file, tmp_path):
    values = tmp_path / "values.yaml"
    original = (CHART / "values-custom.yaml").read_text()
    values.write_text(original)
    run = run_cli("gitlab", "configure-runner", spec_file, "--values-file", values, "--dry-run")
    assert run.code == 0, run
    assert run.out.startswith(f"--- {values} (current)\n+++ {values} (runnerkit)\n")
    assert f'+        namespace_overwrite_allowed = "{NS_REGEX}"\n' in run.out
    assert values.read_text() == original


def test_plain_toml_file(spec_file, tmp_path):
    toml = tmp_path / "config.template.toml"
    toml.write_text('[[runners]]\n  [runners.kubernetes]\n    namespace = "ci" # jobs\n')
    run = run_cli("gitlab", "configure-runner", spec_file, "--file", toml, "-o", "json")
    assert run.code == 0, run
    report = json.loads(run.out)
    assert report["changed"] and report["written"] and report["file"] == str(toml)
    assert toml.read_text() == ('[[runners]]\n  [runners.kubernetes]\n    namespace = "ci" # jobs\n'
                                f'    namespace_overwrite_allowed = "{NS_REGEX}"\n'
                                f'    service_account_overwrite_allowed = "{SA_REGEX}"\n')


def test_allow_any_warns(spec_file, tmp_path):
    toml = tmp_path / "t.toml"
    toml.write_text("[[runners]]\n")
    run = run_cli("gitlab", "configure-runner", spec_file, "--file", toml, "--allow-any")
    assert run.code == 0 and "warning: --allow-any writes '.*'" in run.err
    assert tomllib.loads(toml.read_text())["runners"][0]["kubernetes"]["namespace_overwrite_allowed"] == ".*"


@pytest.mark.parametrize("content, message", [
    ("[[runners]]\n[[runners]]\n", "has 2 [[runners]] entries"),
    ("[[runners]]\n  x = 'unclosed\n", "not valid TOML at line 2"),
])
def test_bad_template_exits_2_and_leaves_the_file_alone(spec_file, tmp_path, content, message):
    toml = tmp_path / "t.toml"
    toml.write_text(content)
    run = run_cli("gitlab", "configure-runner", spec_file, "--file", toml)
    assert run.code == 2 and message in run.err and "nothing was written" in run.err
    assert toml.read_text() == content


def test_usage_errors(spec_file, tmp_path):
    assert run_cli("gitlab", "configure-runner", spec_file, "--file", tmp_path / "missing.toml").code == 2
    run = run_cli("gitlab", "configure-runner", spec_file, "--runner", "arc", "--file", "x")
    assert run.code == 2 and "no gitlab runner named 'arc'" in run.err
    run = run_cli("gitlab", "configure-runner", spec_file, "--values-file", "a", "--file", "b")
    assert run.code == 2 and "not allowed with" in run.err


def test_help_teaches():
    for sub in ("configure-runner", "rollback", "push-variables"):
        run = run_cli("gitlab", sub, "--help")
        assert run.code == 0 and "examples:" in run.out, sub
