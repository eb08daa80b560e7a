"""doctor --id-token-env: a token's claims, acceptance, mapping and grants, explained from the spec."""

import json

import pytest

from conftest import FIXTURES, run_cli
from oidc_issuer import Keys, github_claims, gitlab_claims
from runnerkit.cli.files import read_spec
from runnerkit.model.mapping import rejections
from unit.model.test_authconfig import server_mapping

SPEC = read_spec(FIXTURES / "identities.yaml")
AUD = "https://kubernetes.example.com"
GH = "https://token.actions.githubusercontent.com"
GL = "https://gitlab.com"
KEYS = Keys()


@pytest.mark.parametrize("issuer, claims", [
    ("github", github_claims(GH, AUD, "acme/app")),
    ("github", github_claims(GH, AUD, "evil/app")),
    ("github", {**github_claims(GH, AUD, "acme/app"), "repository": "evil/app"}),
    ("github", github_claims(GH, AUD, "acme/app", environment="a:b")),
    ("github", {k: v for k, v in github_claims(GH, AUD, "acme/app").items() if k != "event_name"}),
    ("gitlab", gitlab_claims(GL, AUD, "acme/app")),
    ("gitlab", gitlab_claims(GL, AUD, "acmes/app")),
    ("gitlab", {**gitlab_claims(GL, AUD, "acme/app"), "ref_protected": "yes"}),
    ("gitlab", {**gitlab_claims(GL, AUD, "acme/app"), "project_path": "other/app"}),
])
def test_local_rejections_agree_with_the_generated_claim_rules(issuer, claims):
    accepted_by_cel = server_mapping(issuer, claims)[0]
    assert (rejections(SPEC.issuers[issuer], claims) == []) is accepted_by_cel


def doctor(monkeypatch, claims: dict, *extra: str):
    token = KEYS.sign(claims)
    monkeypatch.setenv("CI_ID_TOKEN", token)
    result = run_cli("doctor", "--id-token-env", "CI_ID_TOKEN", "--spec", FIXTURES / "identities.yaml", *extra)
    assert token.split(".")[1] not in result.out + result.err
    return result


def test_a_matching_github_token_is_explained_down_to_the_grant(monkeypatch):
    result = doctor(monkeypatch, github_claims(GH, AUD, "acme/app"))
    assert result.code == 0, result
    assert "  ok accepted by issuer github" in result.out
    assert ("  username: github:repo:acme/app:ref:refs/heads/main:workflow:"
            "acme/app/.github/workflows/deploy.yml@refs/heads/main") in result.out
    assert ("  ok project app (namespace app): helm-deployer through group "
            "github:repo:acme/app:ref:refs/heads/main") in result.out
    assert "      identity: github acme/app; refs refs/heads/main; no pull requests" in result.out


def test_a_pull_request_token_is_accepted_but_matches_no_identity(monkeypatch):
    result = doctor(monkeypatch, github_claims(GH, AUD, "acme/app", ref="refs/pull/1/merge",
                                                event_name="pull_request"))
    assert result.code == 1
    assert "ok accepted" in result.out and "no project's identities match this token" in result.out


def test_foreign_group_wrong_audience_and_unknown_issuer_are_named(monkeypatch):
    result = doctor(monkeypatch, gitlab_claims(GL, "other-aud", "evil/app"), "-o", "json")
    assert result.code == 1
    report = json.loads(result.out)
    assert report["accepted"] is False and report["issuer"] == "gitlab"
    assert any("audience other-aud is not the issuer's" in p for p in report["problems"])
    assert any("group 'evil' is not in issuers[gitlab].groups (acme)" in p for p in report["problems"])
    unknown = doctor(monkeypatch, github_claims("https://issuer.example", AUD, "acme/app"))
    assert unknown.code == 1 and "issuer 'https://issuer.example' is not declared" in unknown.out


def test_needs_a_spec_and_a_token(monkeypatch):
    monkeypatch.delenv("NOPE", raising=False)
    assert run_cli("doctor", "--id-token-env", "NOPE").code == 2
    r = run_cli("doctor", "--id-token-env", "NOPE", "--spec", FIXTURES / "identities.yaml")
    assert r.code == 2 and "$NOPE is empty" in r.err
