"""Keyless GitHub snippet: a project that declares a GitHub identity gets the OIDC job (schema,
actionlint, shellcheck)."""

from pathlib import Path

import yaml

from conftest import FIXTURES, run_cli
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
