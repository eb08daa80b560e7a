"""Keyless GitLab snippet: a project that declares a GitLab identity gets the OIDC job (schema)."""

import yaml

from conftest import FIXTURES, run_cli
from unit.gitlab.test_snippets import gitlab_ci_schema_errors

SPEC = FIXTURES / "identities.yaml"


def test_gitlab_snippet_requests_an_id_token_for_the_audience_and_follows_the_identity(tmp_path):
    result = run_cli("snippet", "gitlab", "app", SPEC)
    assert result.code == 0, result
    doc = yaml.safe_load(result.out)
    job = doc["deploy"]
    # the runnerkit-oidc component requests the ID token (test_component_oidc.py checks the inputs)
    assert doc["include"][0]["inputs"] == {"audience": "https://kubernetes.example.com", "namespace": "app"}
    assert job["extends"] == ".runnerkit-oidc"
    assert job["environment"] == "production"
    assert job["rules"] == [{"if": '$CI_COMMIT_BRANCH == "main"'}]
    path = tmp_path / ".gitlab-ci.yml"
    path.write_text(result.out)
    assert gitlab_ci_schema_errors(path) == ""
    assert "Protected branches" in result.out


def test_gitlab_tag_identity_runs_on_tags():
    job = yaml.safe_load(run_cli("snippet", "gitlab", "web", SPEC).out)["deploy"]
    assert job["rules"] == [{"if": "$CI_COMMIT_TAG"}]
