"""The identity mapping (pinned) and the AuthenticationConfiguration that makes the API server apply it.

The CEL is compiled and evaluated with cel-python on GitHub- and GitLab-shaped claims, and must give
exactly what runnerkit/mapping.py (the documented reference) gives.
"""

import re

import celpy
import pytest
import yaml

from conftest import FIXTURES, run_cli
from oidc_issuer import github_claims, gitlab_claims
from runnerkit.cli.files import read_spec
from runnerkit.errors import InputError
from runnerkit.model.authconfig import CEL_RESERVED, authentication_config, check_cel, expressions
from runnerkit.model.mapping import identity_groups, map_claims

SPEC = read_spec(FIXTURES / "identities.yaml")
AUD = "https://kubernetes.example.com"
GH = "https://token.actions.githubusercontent.com"
GL = "https://gitlab.com"


def cel(expression: str, **activation):
    env = celpy.Environment()
    program = env.program(env.compile(expression))
    return program.evaluate({k: celpy.json_to_cel(v) for k, v in activation.items()})


def entry(issuer: str) -> dict:
    config = authentication_config(SPEC)
    return next(e for e in config["jwt"] if e["issuer"]["url"] == SPEC.issuers[issuer].url)


def server_mapping(issuer: str, claims: dict) -> tuple[bool, str, list[str]]:
    """What the API server does: every claim rule, then the mappings, then every user rule."""
    jwt = entry(issuer)
    for rule in jwt["claimValidationRules"]:
        try:
            if not cel(rule["expression"], claims=claims):
                return False, rule["message"], []
        except celpy.CELEvalError:
            return False, rule["message"], []
    user = str(cel(jwt["claimMappings"]["username"]["expression"], claims=claims))
    groups = [str(g) for g in cel(jwt["claimMappings"]["groups"]["expression"], claims=claims)]
    for rule in jwt["userValidationRules"]:
        if not cel(rule["expression"], user={"username": user, "groups": groups}):
            return False, rule["message"], []
    return True, user, groups


# -- the mapping, pinned ------------------------------------------------------------------------

def test_github_push_to_main_maps_to_every_fact_combination_and_the_full_username():
    ok, user, groups = server_mapping("github", github_claims(GH, AUD, "acme/app"))
    wf = "acme/app/.github/workflows/deploy.yml@refs/heads/main"
    assert ok
    assert user == f"github:repo:acme/app:ref:refs/heads/main:workflow:{wf}"
    assert groups == ["github:repo:acme/app", "github:repo:acme/app:ref:refs/heads/main",
                      f"github:repo:acme/app:workflow:{wf}",
                      f"github:repo:acme/app:ref:refs/heads/main:workflow:{wf}"]


def test_github_environment_job_adds_the_environment_groups():
    wf = "acme/pipelines/.github/workflows/deploy.yml@refs/heads/main"
    ok, user, groups = server_mapping("github", github_claims(GH, AUD, "acme/app", environment="prod",
                                                             workflow=wf))
    assert ok and len(groups) == 8
    assert user == f"github:repo:acme/app:ref:refs/heads/main:environment:prod:workflow:{wf}"
    assert f"github:repo:acme/app:environment:prod:workflow:{wf}" in groups


@pytest.mark.parametrize("event", ["pull_request", "pull_request_target"])
def test_github_pull_request_tokens_only_get_pull_request_groups(event):
    ref = "refs/pull/7/merge" if event == "pull_request" else "refs/heads/main"
    ok, user, groups = server_mapping("github", github_claims(GH, AUD, "acme/app", ref=ref, event_name=event))
    assert ok and user.endswith(":pull_request")
    assert groups and all(g.endswith(":pull_request") for g in groups)
    assert "github:repo:acme/app:ref:refs/heads/main" not in groups


def test_gitlab_protected_and_unprotected_refs_never_share_a_group():
    ok, user, protected = server_mapping("gitlab", gitlab_claims(GL, AUD, "acme/app", environment="production"))
    assert ok and user == "gitlab:project_path:acme/app:ref_type:branch:ref:main:environment:production:protected"
    assert protected == [
        "gitlab:project_path:acme/app:protected", "gitlab:project_path:acme/app:ref_type:branch:protected",
        "gitlab:project_path:acme/app:ref_type:branch:ref:main:protected",
        "gitlab:project_path:acme/app:environment:production:protected",
        "gitlab:project_path:acme/app:ref_type:branch:environment:production:protected",
        "gitlab:project_path:acme/app:ref_type:branch:ref:main:environment:production:protected",
    ]
    _, _, unprotected = server_mapping("gitlab", gitlab_claims(GL, AUD, "acme/app", protected=False))
    assert unprotected and all(g.endswith(":unprotected") for g in unprotected)
    assert not set(protected) & set(unprotected)


@pytest.mark.parametrize("issuer, claims", [
    ("github", github_claims(GH, AUD, "acme/app")),
    ("github", github_claims(GH, AUD, "acme/app", environment="prod")),
    ("github", github_claims(GH, AUD, "acme/app", ref="refs/pull/1/merge", event_name="pull_request")),
    ("github", github_claims(GH, AUD, "acme/app", ref="refs/tags/v1.0.0")),
    ("gitlab", gitlab_claims(GL, AUD, "acme/sub/app", ref="v1", ref_type="tag", protected=False)),
    ("gitlab", gitlab_claims(GL, AUD, "acme/app", environment="staging")),
])
def test_the_cel_maps_exactly_like_the_reference_mapping(issuer, claims):
    ok, user, groups = server_mapping(issuer, claims)
    assert ok and (user, groups) == map_claims(SPEC.issuers[issuer], claims)
    assert user in groups  # the username is the most specific group


def test_each_declared_identity_is_matched_by_its_jobs_and_by_nothing_else():
    app = SPEC.project("app")
    main, prod_deploy, gitlab_main = app.identities
    groups = lambda issuer, claims: set(server_mapping(issuer, claims)[2])  # noqa: E731
    wf = "acme/pipelines/.github/workflows/deploy.yml@refs/heads/main"
    cases = [
        (main, groups("github", github_claims(GH, AUD, "acme/app")), True),
        (main, groups("github", github_claims(GH, AUD, "acme/app", ref="refs/heads/dev")), False),
        (main, groups("github", github_claims(GH, AUD, "acme/other")), False),
        (main, groups("github", github_claims(GH, AUD, "acme/app", event_name="pull_request_target")), False),
        (prod_deploy, groups("github", github_claims(GH, AUD, "acme/app", environment="prod", workflow=wf)), True),
        (prod_deploy, groups("github", github_claims(GH, AUD, "acme/app", environment="prod")), False),
        (prod_deploy, groups("github", github_claims(GH, AUD, "acme/app", environment="dev", workflow=wf)), False),
        (gitlab_main, groups("gitlab", gitlab_claims(GL, AUD, "acme/app", environment="production")), True),
        (gitlab_main, groups("gitlab", gitlab_claims(GL, AUD, "acme/app", environment="production",
                                                     protected=False)), False),
        (gitlab_main, groups("gitlab", gitlab_claims(GL, AUD, "acme/app")), False),
        (gitlab_main, groups("gitlab", gitlab_claims(GL, AUD, "acme/app", ref="main", ref_type="tag",
                                                     environment="production")), False),
    ]
    for identity, token_groups, allowed in cases:
        assert bool(set(identity_groups(identity)) & token_groups) is allowed, (identity, token_groups)


# -- claim and user validation --------------------------------------------------------------------

@pytest.mark.parametrize("issuer, claims, message", [
    ("github", github_claims(GH, AUD, "evil/app"), "repository owner not allowed by issuer github"),
    ("github", {**github_claims(GH, AUD, "acme/app"), "repository": "evil/app"},
     "repository does not belong to repository_owner"),
    ("github", github_claims(GH, AUD, "acme/app", environment="prod:x"), "contains ':'"),
    ("github", {k: v for k, v in github_claims(GH, AUD, "acme/app").items() if k != "job_workflow_ref"},
     "not a GitHub Actions ID token"),
    ("gitlab", gitlab_claims(GL, AUD, "evil/app"), "group not allowed by issuer gitlab"),
    ("gitlab", gitlab_claims(GL, AUD, "acmes/app"), "group not allowed by issuer gitlab"),
    ("gitlab", {**gitlab_claims(GL, AUD, "acme/app"), "project_path": "evil/app"},
     "project_path is not inside namespace_path"),
    ("gitlab", {**gitlab_claims(GL, AUD, "acme/app"), "ref_protected": True}, "ref_protected 'true' or 'false'"),
    ("gitlab", gitlab_claims(GL, AUD, "acme/app", ref="a:b"), "contains ':'"),
])
def test_claim_rules_reject_foreign_owners_and_malformed_tokens(issuer, claims, message):
    ok, why, _ = server_mapping(issuer, claims)
    assert not ok and message in why


def test_subgroups_of_an_allowed_gitlab_group_are_allowed():
    assert server_mapping("gitlab", gitlab_claims(GL, AUD, "acme/team/app"))[0]
    assert server_mapping("gitlab-corp", gitlab_claims("https://gitlab.corp.example", AUD, "ops/infra/web"))[0]
    assert not server_mapping("gitlab-corp", gitlab_claims("https://gitlab.corp.example", AUD, "ops/app"))[0]


def test_user_rules_forbid_the_system_prefix():
    rules = entry("github")["userValidationRules"]
    assert not all(cel(r["expression"], user={"username": "system:admin", "groups": []}) for r in rules)
    assert not all(cel(r["expression"], user={"username": "github:x", "groups": ["system:masters"]})
                   for r in rules)
    assert all(cel(r["expression"], user={"username": "github:x", "groups": ["github:y"]}) for r in rules)


# -- the document ---------------------------------------------------------------------------------

def test_every_generated_expression_compiles_and_selects_no_reserved_word():
    config = authentication_config(SPEC)
    found = expressions(config)
    assert len(found) == 2 * (4 + 2 + 2) + 2 * (5 + 2 + 2)  # claim rules, mappings, user rules
    env = celpy.Environment()
    for where, expression in found:
        env.compile(expression)  # raises on a syntax error
        for member in re.findall(r"\b(?:claims|user)\.([A-Za-z_]\w*)", expression):
            assert member not in CEL_RESERVED, (where, member)


def test_a_reserved_word_selected_as_a_field_is_refused():
    doc = {"jwt": [{"claimMappings": {"username": {"expression": "claims.namespace + 'x'"}}}]}
    with pytest.raises(AssertionError, match="reserved word"):
        check_cel(doc)


@pytest.mark.parametrize("version, api", [(None, "v1"), ("1.34", "v1"), ("v1.37.2", "v1"),
                                          ("1.33", "v1beta1"), ("1.30", "v1beta1")])
def test_api_version_follows_the_kubernetes_version(version, api):
    assert authentication_config(SPEC, version)["apiVersion"] == f"apiserver.config.k8s.io/{api}"


def test_one_jwt_entry_per_issuer_with_its_audience_and_ca():
    config = authentication_config(SPEC)
    assert [(e["issuer"]["url"], e["issuer"]["audiences"]) for e in config["jwt"]] == [
        (i.url, [i.audience]) for i in SPEC.issuers.values()]
    assert all("certificateAuthority" not in e["issuer"] for e in config["jwt"])


def test_cli_renders_the_config_and_refuses_old_versions():
    result = run_cli("render", "--format", "authentication-config", "--kubernetes-version", "1.31",
                     FIXTURES / "identities.yaml")
    assert result.code == 0, result
    doc = yaml.safe_load(result.out)
    assert doc["apiVersion"] == "apiserver.config.k8s.io/v1beta1" and len(doc["jwt"]) == 4
    old = run_cli("render", "--format", "authentication-config", "--kubernetes-version", "1.29",
                  FIXTURES / "identities.yaml")
    assert old.code == 2 and "needs Kubernetes 1.30 or newer" in old.err
    with pytest.raises(InputError):
        authentication_config(SPEC, "one.thirty")
