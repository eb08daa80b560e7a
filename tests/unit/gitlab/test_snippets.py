"""`runnerkit snippet gitlab` and ci-templates/gitlab, validated with GitLab's CI JSON schema (offline)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, run_cli
from runnerkit.model import validate
from runnerkit.cli.common import example_text
from runnerkit.errors import InputError
from runnerkit.gitlab.snippets import gitlab_ci_snippet

TEMPLATES = ROOT / "ci-templates" / "gitlab"
COMPONENT = TEMPLATES / "templates" / "runnerkit-kube.yml"
EXAMPLES = sorted((TEMPLATES / "examples").glob("*.yml"))
KUBE_EXAMPLES = [p for p in EXAMPLES if p.name != "oidc.gitlab-ci.yml"]  # that one: test_component_oidc.py
EXAMPLE = validate.loads(example_text())
CHECK_JSONSCHEMA = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")


def gitlab_ci_schema_errors(*files: Path) -> str:
    """'' when every file is valid for GitLab's CI schema, else the validator's output."""
    result = subprocess.run([CHECK_JSONSCHEMA, "--builtin-schema", "vendor.gitlab-ci",
                             "--data-transform", "gitlab-ci", *map(str, files)],
                            capture_output=True, text=True)
    return "" if result.returncode == 0 else result.stdout + result.stderr


def component_documents() -> tuple[str, str]:
    header, body = COMPONENT.read_text().split("\n---\n")
    return header, body


def test_schema_check_is_real(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("job:\n  script: echo\n  tags: k8s\n")
    assert "tags" in gitlab_ci_schema_errors(bad)


def test_snippet_for_the_example_project():
    text = gitlab_ci_snippet(EXAMPLE, EXAMPLE.project("web-app"))
    data = yaml.safe_load(text)
    assert data == {"variables": {"KUBERNETES_NAMESPACE_OVERWRITE": "web-app",
                                  "KUBERNETES_SERVICE_ACCOUNT_OVERWRITE": "web-app-ci"},
                    "default": {"tags": ["k8s"]}}
    assert text.startswith("# runnerkit (platform-ci): jobs of project web-app run in namespace web-app")


def test_snippet_without_tags_has_no_default_section():
    data = yaml.safe_load(gitlab_ci_snippet(EXAMPLE, EXAMPLE.project("cicd")))
    assert data == {"variables": {"KUBERNETES_NAMESPACE_OVERWRITE": "cicd",
                                  "KUBERNETES_SERVICE_ACCOUNT_OVERWRITE": "cicd-ci"}}


def test_names_that_look_like_numbers_stay_strings():
    spec = validate.loads("apiVersion: runnerkit.io/v1alpha1\nkind: RunnerkitConfig\nmetadata: {name: t}\n"
                          "runners: [{name: r, type: gitlab, namespace: gl}]\n"
                          "projects: [{name: p, runner: r, namespace: '123', serviceAccount: 'true'}]\n")
    data = yaml.safe_load(gitlab_ci_snippet(spec, spec.project("p")))
    assert data["variables"] == {"KUBERNETES_NAMESPACE_OVERWRITE": "123",
                                 "KUBERNETES_SERVICE_ACCOUNT_OVERWRITE": "true"}


@pytest.mark.parametrize("project", ["web-app", "cicd"])
def test_snippet_output_is_valid_gitlab_ci(tmp_path, project):
    path = tmp_path / ".gitlab-ci.yml"
    # on its own, and completed with a job as a project would
    path.write_text(gitlab_ci_snippet(EXAMPLE, EXAMPLE.project(project)))
    assert gitlab_ci_schema_errors(path) == ""
    path.write_text(gitlab_ci_snippet(EXAMPLE, EXAMPLE.project(project))
                    + "deploy:\n  script:\n    - kubectl get pods\n")
    assert gitlab_ci_schema_errors(path) == ""


def test_snippet_refuses_a_github_project():
    with pytest.raises(InputError, match="runs on runner 'arc' of type github, not gitlab"):
        gitlab_ci_snippet(EXAMPLE, EXAMPLE.project("mobile"))


def test_snippet_command(tmp_path):
    spec_file = tmp_path / "runnerkit.yaml"
    spec_file.write_text(example_text())
    run = run_cli("snippet", "gitlab", "web-app", spec_file)
    assert run.code == 0, run
    assert run.out == gitlab_ci_snippet(EXAMPLE, EXAMPLE.project("web-app"))
    run = run_cli("snippet", "gitlab", "mobile", spec_file)
    assert run.code == 2 and "type github, not gitlab" in run.err


# -- ci-templates/gitlab -----------------------------------------------------------------------

def test_component_header_and_body_are_each_valid(tmp_path):
    header, body = component_documents()
    (tmp_path / "header.yml").write_text(header)
    (tmp_path / "body.yml").write_text(body)
    assert gitlab_ci_schema_errors(tmp_path / "header.yml", tmp_path / "body.yml") == ""


def test_component_follows_the_catalog_conventions():
    header, body = component_documents()
    inputs = yaml.safe_load(header)["spec"]["inputs"]
    assert set(inputs) == {"namespace", "service_account", "strict"}
    assert all(spec.get("type") and spec.get("description") for spec in inputs.values())
    assert inputs["strict"] == {"type": "boolean", "default": True, "description": inputs["strict"]["description"]}
    assert "default" not in inputs["namespace"] and "default" not in inputs["service_account"]
    jobs = yaml.safe_load(body)
    assert list(jobs) == [".runnerkit-kube"]  # no default/variables/stages/include leaking into jobs
    assert jobs[".runnerkit-kube"]["variables"] == {
        "KUBERNETES_NAMESPACE_OVERWRITE": "$[[ inputs.namespace ]]",
        "KUBERNETES_SERVICE_ACCOUNT_OVERWRITE": "$[[ inputs.service_account ]]"}


def test_component_input_regexes_accept_kubernetes_names_only():
    import re2

    inputs = yaml.safe_load(component_documents()[0])["spec"]["inputs"]
    namespace, account = re2.compile(inputs["namespace"]["regex"]), re2.compile(inputs["service_account"]["regex"])
    assert namespace.search("web-app") and account.search("web-app-ci") and account.search("build.bot")
    for bad in ("Web", "-x", "a_b", "x" * 64, "a b", ""):
        assert not namespace.search(bad), bad


def test_component_script_is_clean_posix_sh(tmp_path):
    body = yaml.safe_load(component_documents()[1])
    script = body[".runnerkit-kube"]["before_script"][0]
    script = (script.replace("$[[ inputs.namespace ]]", "web-app")
              .replace("$[[ inputs.service_account ]]", "web-app-ci").replace("$[[ inputs.strict ]]", "true"))
    assert "$[[" not in script
    path = tmp_path / "before.sh"
    path.write_text(script)
    result = subprocess.run([shutil.which("shellcheck") or "shellcheck", "--shell=sh", str(path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_component_script_reports_identity_and_enforces_strict(tmp_path):
    """Run the before_script with a fake ServiceAccount mount: right place passes, wrong place fails."""
    import base64
    import json

    body = yaml.safe_load(component_documents()[1])
    script = body[".runnerkit-kube"]["before_script"][0]

    def run(namespace: str, account: str, strict: str) -> subprocess.CompletedProcess:
        mount = tmp_path / f"sa-{namespace}-{account}"
        mount.mkdir(exist_ok=True)
        (mount / "namespace").write_text(namespace)
        claims = base64.urlsafe_b64encode(json.dumps(
            {"sub": f"system:serviceaccount:{namespace}:{account}"}, separators=(",", ":")).encode()).decode()
        (mount / "token").write_text(f"eyJhbGciOiJSUzI1NiJ9.{claims.rstrip('=')}.sig")
        text = (script.replace("/var/run/secrets/kubernetes.io/serviceaccount", str(mount))
                .replace("$[[ inputs.namespace ]]", "web-app").replace("$[[ inputs.service_account ]]", "web-app-ci")
                .replace("$[[ inputs.strict ]]", strict))
        return subprocess.run(["sh", "-c", text], capture_output=True, text=True,
                              env={"PATH": "/usr/bin:/bin"})

    ok = run("web-app", "web-app-ci", "true")
    assert ok.returncode == 0, ok.stderr
    assert "runs in namespace web-app as ServiceAccount web-app-ci (asked for web-app as web-app-ci)" in ok.stdout
    wrong = run("gitlab-runner", "default", "true")
    assert wrong.returncode == 1 and "runner ignored KUBERNETES_NAMESPACE_OVERWRITE" in wrong.stderr
    assert run("gitlab-runner", "default", "false").returncode == 0


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_pipelines_are_valid_gitlab_ci(example):
    assert gitlab_ci_schema_errors(example) == ""


def test_examples_include_the_component_three_ways():
    includes = {p.name: yaml.load(p.read_text(), Loader=_GitlabLoader)["include"][0] for p in KUBE_EXAMPLES}
    assert includes["component.gitlab-ci.yml"]["component"].endswith("/runnerkit-kube@1.0.0")
    assert includes["include-project.gitlab-ci.yml"]["file"] == "/templates/runnerkit-kube.yml"
    assert includes["include-remote.gitlab-ci.yml"]["remote"].endswith("/templates/runnerkit-kube.yml")
    for include in includes.values():
        assert include["inputs"]["namespace"] == "web-app"
        assert include["inputs"]["service_account"] == "web-app-ci"


class _GitlabLoader(yaml.SafeLoader):
    pass


_GitlabLoader.add_constructor("!reference", lambda loader, node: loader.construct_sequence(node))
