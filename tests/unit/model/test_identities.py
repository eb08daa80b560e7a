"""CI identities in runnerkit.yaml: issuers and per-project identities, validated with file:line."""

from pathlib import Path

import pytest

from conftest import FIXTURES, run_cli
from runnerkit.cli.files import read_spec
from runnerkit.model import spec as specmod, validate
from runnerkit.errors import SpecError
from runnerkit.model.identities import GithubIdentity, GitlabIdentity
from runnerkit.desired import render

HEAD = """apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata: {name: t}
runners: [{name: ci, type: github, namespace: ci}]
"""


def load(issuers: str, identities: str) -> specmod.Spec:
    text = HEAD + "issuers:\n" + issuers + "projects:\n  - name: app\n    runner: ci\n" \
        + "    access: [{preset: viewer}]\n    identities:\n" + identities
    return validate.loads(text, "rk.yaml")


def problems(issuers: str, identities: str) -> list[str]:
    with pytest.raises(SpecError) as e:
        load(issuers, identities)
    return e.value.problems


GITHUB = "  - {name: github, audience: https://k8s.example, owners: [acme]}\n"
GITLAB = "  - {name: gitlab, audience: https://k8s.example, groups: [acme]}\n"


def test_fixture_parses_into_typed_issuers_and_identities():
    spec = read_spec(FIXTURES / "identities.yaml")
    assert [(i.name, i.type, i.url) for i in spec.issuers.values()] == [
        ("github", "github", "https://token.actions.githubusercontent.com"),
        ("ghes", "github", "https://github.example.com/_services/token"),
        ("gitlab", "gitlab", "https://gitlab.com"),
        ("gitlab-corp", "gitlab", "https://gitlab.corp.example"),
    ]
    app, web = spec.projects
    assert app.identities[0] == GithubIdentity(spec.issuers["github"], "acme/app", ("refs/heads/main",))
    assert app.identities[2] == GitlabIdentity(spec.issuers["gitlab"], "acme/app", "branch", ("main",),
                                               True, ("production",))
    assert web.identities[0].pull_request is True
    assert web.identities[1] == GitlabIdentity(spec.issuers["gitlab-corp"], "ops/infra/web", "tag", (), False)


def test_defaults_pull_requests_denied_and_gitlab_refs_protected():
    spec = load(GITHUB + GITLAB, "      - {issuer: github, repository: acme/app}\n"
                                 "      - {issuer: gitlab, projectPath: acme/app}\n")
    github, gitlab = spec.projects[0].identities
    assert github.pull_request is False and github.refs == () and github.workflow is None
    assert gitlab.protected is True and gitlab.ref_type is None


@pytest.mark.parametrize("issuers, identities, expected", [
    ("  - {name: github, audience: a}\n", "      - {issuer: github, repository: acme/app}\n",
     "rk.yaml:6: issuers[0].owners is required"),
    ("  - {name: github, owners: [acme]}\n", "      - {issuer: github, repository: acme/app}\n",
     "rk.yaml:6: issuers[0].audience is required"),
    ("  - {name: system, type: github, audience: a, owners: [acme]}\n", "",
     "rk.yaml:6: issuers[0].name 'system' is reserved"),
    ("  - {name: github, url: 'http://gh.example', audience: a, owners: [acme]}\n", "",
     "rk.yaml:6: issuers[0].url must be the issuer's https URL"),
    ("  - {name: github, url: 'https://gitlab.com/', audience: a, owners: [acme]}\n", "",
     "no trailing '/'"),
    ("  - {name: gh, audience: a, owners: [acme]}\n", "",
     "rk.yaml:6: issuers[0].type must be one of github, gitlab, not None"),
    ("  - {name: gitlab, audience: a, owners: [acme]}\n", "",
     "rk.yaml:6: issuers[0].owners is not used by gitlab issuers; list them under groups:"),
    (GITHUB + "  - {name: github, audience: b, owners: [x]}\n", "",
     "rk.yaml:7: issuers[1].name issuer 'github' is declared twice"),
    (GITHUB + "  - {name: ghes, type: github, audience: b, owners: [x]}\n", "",
     "rk.yaml:7: issuers[1].url repeats the url of issuer 'github'"),
    (GITHUB, "      - {issuer: gitlab, projectPath: acme/app}\n",
     "rk.yaml:12: projects[0].identities[0].issuer 'gitlab' is not declared; set issuer: to one of: github"),
    (GITHUB, "      - {issuer: github, repository: evil/app}\n",
     "rk.yaml:12: projects[0].identities[0].repository belongs to 'evil', which issuer 'github' does not allow"),
    (GITHUB, "      - {issuer: github, repository: acme/app, refs: [main]}\n",
     "'main' must be a full ref as in the token's ref claim: refs/heads/main or refs/tags/main"),
    (GITHUB, "      - {issuer: github, repository: acme/app, refs: ['refs/heads/*']}\n",
     "'refs/heads/*' is not a valid ref: a plain name without ':', '*' or spaces"),
    (GITHUB, "      - {issuer: github, repository: acme/app, environments: ['a:b']}\n",
     "'a:b' is not a valid environment"),
    (GITHUB, "      - {issuer: github, repository: acme/app, pullRequest: true, refs: [refs/heads/main]}\n",
     "refs cannot be combined with pullRequest: true"),
    (GITHUB, "      - {issuer: github, repository: acme/app, pullRequest: 'yes'}\n",
     "projects[0].identities[0].pullRequest must be true or false"),
    (GITHUB, "      - {issuer: github, repository: acme/app, workflow: deploy.yml}\n",
     "projects[0].identities[0].workflow must be a job_workflow_ref"),
    (GITHUB, "      - {issuer: github, repository: acme/app, branch: main}\n",
     "projects[0].identities[0].branch is not a known key"),
    (GITLAB, "      - {issuer: gitlab, projectPath: other/app}\n",
     "projectPath is outside the groups issuer 'gitlab' allows (acme)"),
    (GITLAB, "      - {issuer: gitlab, projectPath: acme/app, refs: [refs/heads/main]}\n",
     "GitLab's ref claim is the bare name: write 'main'"),
    (GITLAB, "      - {issuer: gitlab, projectPath: acme/app, refType: commit}\n",
     "refType must be branch or tag, not 'commit'"),
    (GITLAB, "      - {issuer: gitlab, projectPath: acme/app}\n      - {issuer: gitlab, projectPath: acme/app}\n",
     "rk.yaml:13: projects[0].identities[1] repeats an identity declared above"),
])
def test_bad_identities_are_reported_with_file_line_field_and_fix(issuers, identities, expected):
    assert any(expected in p for p in problems(issuers, identities)), problems(issuers, identities)


def test_cli_validate_exits_2_with_one_line_per_problem(tmp_path: Path):
    path = tmp_path / "rk.yaml"
    path.write_text(HEAD + "issuers:\n" + GITHUB + "projects:\n  - name: app\n    runner: ci\n"
                    "    identities:\n      - {issuer: github, repository: evil/app}\n"
                    "      - {issuer: github, repository: acme/app, refs: [main]}\n")
    result = run_cli("validate", path)
    assert result.code == 2 and result.out == ""
    lines = result.err.splitlines()
    assert len(lines) == 2 and all(line.startswith(f"error: {path}:1") for line in lines)


def test_grants_are_bound_to_the_declared_identity_groups_next_to_the_service_account():
    spec = read_spec(FIXTURES / "identities.yaml")
    bindings = {(o["metadata"]["namespace"], o["metadata"]["name"]): o["subjects"]
                for o in render(spec) if o["kind"] == "RoleBinding"}
    group = lambda name: {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": name}  # noqa: E731
    assert bindings[("app", "runnerkit-app-helm-deployer")] == [
        {"kind": "ServiceAccount", "name": "app-ci", "namespace": "app"},
        group("github:repo:acme/app:ref:refs/heads/main"),
        group("github:repo:acme/app:environment:prod:workflow:"
              "acme/pipelines/.github/workflows/deploy.yml@refs/heads/main"),
        group("gitlab:project_path:acme/app:ref_type:branch:ref:main:environment:production:protected"),
    ]
    assert bindings[("web", "runnerkit-web-viewer")] == [
        {"kind": "ServiceAccount", "name": "web-ci", "namespace": "web"},
        group("ghes:repo:platform/web"), group("ghes:repo:platform/web:pull_request"),
        group("gitlab-corp:project_path:ops/infra/web:ref_type:tag:protected"),
        group("gitlab-corp:project_path:ops/infra/web:ref_type:tag:unprotected"),
    ]


def test_helm_values_refuse_specs_with_identities_instead_of_dropping_them():
    result = run_cli("render", "--format", "helm-values", FIXTURES / "identities.yaml")
    assert result.code == 2 and "does not render CI identities" in result.err
