"""A pip user gets everything: the chart and CI templates ship in the wheel, identical to the
repository's, and `runnerkit export` writes them out. Tested from a built wheel installed into a
fresh venv in a temporary directory outside the checkout."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, run_cli
from unit.model.test_chart import Helm

SOURCES = {"chart": ROOT / "charts" / "runnerkit-tenants",
           "gitlab-component": ROOT / "ci-templates" / "gitlab",
           "github-action": ROOT / "ci-templates" / "github" / "setup-kube"}


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """bin/ of a fresh venv holding only the wheel built from this checkout (no checkout on its path)."""
    work = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "dist"),
                            str(ROOT)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-3000:]
    [wheel] = (work / "dist").glob("runnerkit-*.whl")
    venv.create(work / "venv", with_pip=True)
    bin_dir = work / "venv" / "bin"
    # --no-deps, offline: the dependencies (pyyaml, ...) come from this test environment's
    # site-packages, appended by a .pth file. Its own .pth files (the editable install of this
    # checkout) are not processed that way, so `runnerkit` can only be the wheel's.
    inst = subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
                          capture_output=True, text=True, timeout=600)
    assert inst.returncode == 0, inst.stderr[-3000:]
    [site_packages] = (work / "venv" / "lib").glob("python*/site-packages")
    deps = [p for p in sys.path if p.endswith("site-packages") and Path(p, "yaml").is_dir()]
    (site_packages / "test-dependencies.pth").write_text("\n".join(deps) + "\n")
    return bin_dir


def export(bin_dir: Path, what: str, target: Path) -> subprocess.CompletedProcess:
    run = subprocess.run([str(bin_dir / "runnerkit"), "export", what, str(target)], capture_output=True,
                         text=True, timeout=60, cwd=target.parent)
    assert run.returncode == 0, run.stderr
    return run


@pytest.mark.parametrize("what", sorted(SOURCES))
def test_wheel_export_is_identical_to_the_repository(installed, tmp_path, what):
    where = subprocess.run([str(installed / "python"), "-c", "import runnerkit; print(runnerkit.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert Path(where.stdout.strip()).is_relative_to(installed.parent), where  # not the checkout
    run = export(installed, what, tmp_path / "out")
    assert tree(tmp_path / "out") == tree(SOURCES[what])
    assert "wrote" in run.stdout and "next: " in run.stdout


def test_exported_chart_packages_and_lints_strictly(installed, tmp_path):
    export(installed, "chart", tmp_path / "runnerkit-tenants")
    helm = Helm("v37")
    helm.run("lint", "--strict", str(tmp_path / "runnerkit-tenants"))
    helm.run("package", str(tmp_path / "runnerkit-tenants"), "-d", str(tmp_path / "pkg"))
    [tgz] = (tmp_path / "pkg").glob("runnerkit-tenants-*.tgz")
    helm.run("lint", "--strict", str(tgz))


def check_jsonschema(schema: str, path: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *extra,
                           str(path)], capture_output=True, text=True, timeout=120)


def test_exported_action_and_component_pass_their_schemas(installed, tmp_path):
    export(installed, "github-action", tmp_path / "action")
    run = check_jsonschema("vendor.github-actions", tmp_path / "action" / "action.yml")
    assert run.returncode == 0, run.stdout + run.stderr
    for script in ("setup-kube.sh", "setup-kube-oidc.sh", "oidc-credential.sh", "lib.sh"):  # the OIDC mode ships too
        assert (tmp_path / "action" / script).stat().st_mode & 0o111, script  # executable

    export(installed, "gitlab-component", tmp_path / "component")
    inputs = {"runnerkit-kube": {"namespace", "service_account", "strict"},
              "runnerkit-oidc": {"audience", "server", "namespace", "ca_variable", "verify"}}
    assert sorted(p.stem for p in (tmp_path / "component" / "templates").iterdir()) == sorted(inputs)
    for template, expected in inputs.items():
        header, body = (tmp_path / "component" / "templates" / f"{template}.yml").read_text().split("\n---\n")
        assert set(yaml.safe_load(header)["spec"]["inputs"]) == expected
        for name, text in ((f"{template}-header.yml", header), (f"{template}-body.yml", body)):
            (tmp_path / name).write_text(text)
            run = check_jsonschema("vendor.gitlab-ci", tmp_path / name, "--data-transform", "gitlab-ci")
            assert run.returncode == 0, name + run.stdout + run.stderr


def test_export_refuses_to_overwrite_and_changes_nothing(tmp_path):
    target = tmp_path / "action"
    target.mkdir()
    (target / "action.yml").write_text("mine\n")
    run = run_cli("export", "github-action", str(target))
    assert run.code == 2 and "--force" in run.err
    assert sorted(p.name for p in target.iterdir()) == ["action.yml"]
    assert (target / "action.yml").read_text() == "mine\n"
    assert run_cli("export", "github-action", str(target), "--force").code == 0
    assert (target / "action.yml").read_bytes() == (SOURCES["github-action"] / "action.yml").read_bytes()


def test_messages_name_the_export_command_not_a_repository_path(tmp_path):
    values = run_cli("render", "--example", "--format", "helm-values")
    assert "runnerkit export chart" in values.out and "charts/runnerkit-tenants" not in values.out
    assert "charts/" not in run_cli("render", "--help").out
    assert run_cli("init", str(tmp_path / "runnerkit.yaml")).code == 0
    snippet = run_cli("snippet", "github", "mobile", str(tmp_path / "runnerkit.yaml"))
    assert snippet.code == 0, snippet
    assert "runnerkit export github-action .github/actions/setup-kube" in snippet.out
    assert "ci-templates/" not in snippet.out
