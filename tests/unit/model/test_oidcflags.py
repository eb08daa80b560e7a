"""The --oidc-* flags / EKS fallback: what an oidc-flags issuer may declare, the users its identities
are bound as, the flags and the EKS identity-provider input it renders, and doctor/verify on it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli
from oidc_issuer import Keys, github_claims, gitlab_claims
from runnerkit.diagnose.verify_identities import cases, plan
from runnerkit.errors import InputError, SpecError
from runnerkit.model import authconfig, oidcflags, validate
from runnerkit.model.mapping import default_sub, map_claims, subjects

AUD = "https://kubernetes.example.com"
GH = "https://token.actions.githubusercontent.com"
HEAD = """apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata: {name: t}
runners: [{name: ci, type: github, namespace: ci}]
"""
GITHUB = f"  - {{name: github, audience: {AUD}, owners: [acme], authentication: oidc-flags}}\n"
GITLAB = f"  - {{name: gitlab, audience: {AUD}, groups: [acme], authentication: oidc-flags}}\n"


def spec_text(issuers: str, identities: str, other: str = "") -> str:
    return (HEAD + "issuers:\n" + issuers + "projects:\n  - name: app\n    runner: ci\n"
            "    access: [{rules: [{apiGroups: [''], resources: [configmaps], verbs: [get]}]}]\n"
            "    identities:\n" + identities + other)


def load(issuers: str, identities: str, other: str = ""):
    return validate.loads(spec_text(issuers, identities, other), "rk.yaml")


def problems(issuers: str, identities: str) -> list[str]:
    with pytest.raises(SpecError) as e:
        load(issuers, identities)
    return e.value.problems


def test_identities_are_bound_as_the_users_the_default_sub_maps_to():
    spec = load(GITHUB, "      - {issuer: github, repository: acme/app, refs: [refs/heads/main, refs/tags/v1]}\n"
                        "      - {issuer: github, repository: acme/app, environments: [prod], pullRequest: true}\n"
                        "      - {issuer: github, repository: acme/app, pullRequest: true}\n")
    assert subjects(spec.projects[0].identities) == [
        {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": name} for name in (
            "github:repo:acme/app:ref:refs/heads/main", "github:repo:acme/app:ref:refs/tags/v1",
            "github:repo:acme/app:environment:prod", "github:repo:acme/app:pull_request")]
    gitlab = load(GITLAB, "      - {issuer: gitlab, projectPath: acme/app, refs: [main], refType: branch}\n")
    assert subjects(gitlab.projects[0].identities) == [
        {"kind": "User", "apiGroup": "rbac.authorization.k8s.io",
         "name": "gitlab:project_path:acme/app:ref_type:branch:ref:main"}]


@pytest.mark.parametrize("claims", [
    github_claims(GH, AUD, "acme/app"),
    github_claims(GH, AUD, "acme/app", ref="refs/pull/7/merge", event_name="pull_request"),
    github_claims(GH, AUD, "acme/app", environment="prod"),
    github_claims(GH, AUD, "acme/app", ref="refs/pull/7/merge", event_name="pull_request", environment="prod"),
])
def test_default_sub_is_the_sub_github_issues(claims):
    spec = load(GITHUB, "      - {issuer: github, repository: acme/app, refs: [refs/heads/main]}\n")
    issuer = spec.issuers["github"]
    assert default_sub(issuer, claims) == claims["sub"]
    assert map_claims(issuer, claims) == ("github:" + claims["sub"], [])


def test_default_sub_is_the_sub_gitlab_issues():
    spec = load(GITLAB, "      - {issuer: gitlab, projectPath: acme/app, refs: [v1], refType: tag}\n")
    claims = gitlab_claims("https://gitlab.com", AUD, "acme/app", ref="v1", ref_type="tag")
    assert default_sub(spec.issuers["gitlab"], claims) == claims["sub"]


@pytest.mark.parametrize("identity, fragment", [
    ("{issuer: github, repository: acme/app, refs: [refs/heads/main], environments: [prod]}",
     "identities[0] declares refs and environments: with oidc-flags the username is GitHub's sub"),
    ("{issuer: github, repository: acme/app}",
     "identities[0] declares none of refs, environments, pullRequest: true"),
    ("{issuer: github, repository: acme/app, environments: [prod]}",
     "identities[0].environments with oidc-flags an environment admits every job that deploys to it, "
     "pull requests included (GitHub's sub names the environment whatever the event): write pullRequest: true"),
    ("{issuer: github, repository: acme/app, refs: [refs/heads/main], "
     "workflow: acme/app/.github/workflows/d.yml@refs/heads/main}",
     "identities[0].workflow oidc-flags map only the sub claim, which does not carry job_workflow_ref"),
])
def test_github_identities_the_sub_cannot_express_are_refused(identity, fragment):
    found = problems(GITHUB, f"      - {identity}\n")
    assert any(fragment in p for p in found), found
    assert all("authentication: structured (Kubernetes 1.30+)" in p for p in found)


def test_gitlab_identities_the_sub_cannot_express_are_refused():
    found = problems(GITLAB, "      - {issuer: gitlab, projectPath: acme/sub/app, environments: [prod], "
                             "protected: false}\n")
    assert [p.split(" ", 2)[1] for p in found] == [
        "projects[0].identities[0].environments", "projects[0].identities[0].refs",
        "projects[0].identities[0].protected", "projects[0].identities[0].projectPath"]


def test_one_issuer_with_one_owner():
    found = problems(GITHUB + f"  - {{name: gitlab, audience: {AUD}, groups: [acme]}}\n",
                     "      - {issuer: github, repository: acme/app, refs: [refs/heads/main]}\n")
    assert any(p.startswith("rk.yaml:6: issuers[0].authentication oidc-flags: an API server takes one issuer")
               for p in found), found
    two = GITHUB.replace("[acme]", "[acme, beta]")
    found = problems(two, "      - {issuer: github, repository: acme/app, refs: [refs/heads/main]}\n")
    assert any("issuers[0].owners oidc-flags can require one value per claim "
               "(--oidc-required-claim=repository_owner=VALUE)" in p for p in found), found
    found = problems(GITHUB.replace("oidc-flags", "oidc"), "      - {issuer: github, repository: acme/app}\n")
    assert any("issuers[0].authentication must be structured" in p for p in found), found


def test_flags_render_pinned_and_the_formats_refuse_each_others_specs():
    spec = load(GITLAB, "      - {issuer: gitlab, projectPath: acme/app, refs: [main]}\n")
    rendered = oidcflags.apiserver_flags(spec)
    assert rendered["flags"] == [
        "--oidc-issuer-url=https://gitlab.com", f"--oidc-client-id={AUD}", "--oidc-username-claim=sub",
        "--oidc-username-prefix=gitlab:", "--oidc-required-claim=namespace_path=acme",
        "--oidc-required-claim=ref_protected=true"]
    assert "only protected refs authenticate (ref_protected=true is required of every token)" in rendered["limits"]
    with pytest.raises(InputError, match=r"issuers\[0\] \(gitlab\) has authentication: oidc-flags"):
        authconfig.authentication_config(spec)
    structured = validate.loads(spec_text(GITLAB.replace(", authentication: oidc-flags", ""),
                                          "      - {issuer: gitlab, projectPath: acme/app}\n"), "rk.yaml")
    with pytest.raises(InputError, match="issuers use structured authentication: render --format authentication-config"):
        oidcflags.apiserver_flags(structured)


def test_a_private_ca_becomes_a_ca_file_flag_and_is_refused_for_eks():
    ca = json.dumps("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    issuer = GITHUB.replace("}\n", f", certificateAuthority: {ca}}}\n")
    spec = load(issuer, "      - {issuer: github, repository: acme/app, refs: [refs/heads/main]}\n")
    rendered = oidcflags.apiserver_flags(spec)
    assert rendered["flags"][-1] == "--oidc-ca-file=/etc/kubernetes/pki/oidc-github-ca.crt"
    assert "# write issuers[0].certificateAuthority to /etc/kubernetes/pki/oidc-github-ca.crt" in \
        oidcflags.flags_text(rendered, spec)
    with pytest.raises(InputError, match="EKS accepts only issuers with a publicly trusted certificate"):
        oidcflags.eks_identity_provider(spec)


def botocore_path() -> Path:
    path = Path(os.environ.get("RUNNERKIT_BOTOCORE") or
                Path(os.environ.get("RUNNERKIT_CACHE") or Path.home() / ".cache/runnerkit") / "tools/botocore")
    if not (path / "botocore").is_dir():
        pytest.skip(f"botocore is not installed in {path} (scripts/test installs it there)")
    return path


VALIDATE_EKS = """
import json, sys
import botocore.session
from botocore.validate import ParamValidator
model = botocore.session.get_session().get_service_model("eks")
shape = model.operation_model("AssociateIdentityProviderConfig").input_shape
report = ParamValidator().validate(json.load(sys.stdin), shape)
print(report.generate_report() or "valid")
"""


def test_eks_identity_provider_is_valid_input_for_the_eks_api(tmp_path):
    path = tmp_path / "rk.yaml"
    path.write_text(spec_text(GITHUB, "      - {issuer: github, repository: acme/app, refs: [refs/heads/main]}\n"))
    result = run_cli("render", "--format", "eks-identity-provider", "-o", "json", path)
    assert result.code == 0, result
    provider = json.loads(result.out)
    assert provider["oidc"] == {"identityProviderConfigName": "runnerkit-github", "issuerUrl": GH,
                                "clientId": AUD, "usernameClaim": "sub", "usernamePrefix": "github:",
                                "requiredClaims": {"repository_owner": "acme"}}
    # `aws eks associate-identity-provider-config --cluster-name C --cli-input-json file://x` adds the name.
    env = {**os.environ, "PYTHONPATH": str(botocore_path())}
    for params, verdict in (({**provider, "clusterName": "prod"}, "valid"),
                            ({**provider, "clusterName": "prod", "oidc": {"issuerUrl": GH}}, "Missing required parameter")):
        checked = subprocess.run([sys.executable, "-c", VALIDATE_EKS], input=json.dumps(params), env=env,
                                 capture_output=True, text=True, check=True)
        assert verdict in checked.stdout, checked.stdout


def test_render_cli_prints_the_flags_and_what_they_cannot_express(tmp_path):
    path = tmp_path / "rk.yaml"
    path.write_text(spec_text(GITHUB, "      - {issuer: github, repository: acme/app, environments: [prod], pullRequest: true}\n"))
    result = run_cli("render", "--format", "oidc-flags", path)
    assert result.code == 0, result
    lines = result.out.splitlines()
    assert lines[1:6] == ["--oidc-issuer-url=https://token.actions.githubusercontent.com",
                          f"--oidc-client-id={AUD}", "--oidc-username-claim=sub",
                          "--oidc-username-prefix=github:", "--oidc-required-claim=repository_owner=acme"]
    assert any(line.startswith("# - an environment identity admits every job that deploys to the environment, "
                               "pull requests included (validate asks for pullRequest: true") for line in lines)
    assert any(line.startswith("# - pull_request_target jobs run with the base branch's ref") for line in lines)
    refused = run_cli("render", "--format", "authentication-config", path)
    assert refused.code == 2 and "render --format oidc-flags" in refused.err


def test_a_ref_identity_says_it_admits_only_jobs_without_an_environment():
    from runnerkit.model.mapping import describe
    spec = load(GITHUB, "      - {issuer: github, repository: acme/app, refs: [refs/heads/main]}\n")
    assert describe(spec.projects[0].identities[0]) == (
        "github acme/app; refs refs/heads/main; jobs without an environment, no pull requests")


def test_verify_plans_user_questions_and_the_pull_request_variant_is_denied():
    spec = load(GITHUB, "      - {issuer: github, repository: acme/app, refs: [refs/heads/main]}\n")
    found = {c.label: c for c in cases(spec.projects[0].identities[0])}
    assert found["declared job"].username == "github:repo:acme/app:ref:refs/heads/main"
    assert found["declared job"].groups == ()
    assert found["a pull request"].username == "github:repo:acme/app:pull_request"
    [check] = plan(spec)
    assert {q[0].label for q in check.questions if q[3]} == {"declared job"}


KEYS = Keys()


def test_doctor_explains_a_flags_token_through_its_user(monkeypatch, tmp_path):
    path = tmp_path / "rk.yaml"
    path.write_text(spec_text(GITHUB, "      - {issuer: github, repository: acme/app, environments: [prod], pullRequest: true}\n"))
    token = KEYS.sign(github_claims(GH, AUD, "acme/app", environment="prod"))
    monkeypatch.setenv("CI_ID_TOKEN", token)
    result = run_cli("doctor", "--id-token-env", "CI_ID_TOKEN", "--spec", path)
    assert result.code == 0, result
    assert "  username: github:repo:acme/app:environment:prod\n  groups: none" in result.out
    assert ("  ok project app (namespace app): rules-0 through user github:repo:acme/app:environment:prod\n"
            "      identity: github acme/app; any ref; environments prod; pull requests deploying there too"
            ) in result.out
    foreign = KEYS.sign(github_claims(GH, AUD, "other/app", environment="prod"))
    monkeypatch.setenv("CI_ID_TOKEN", foreign)
    result = run_cli("doctor", "--id-token-env", "CI_ID_TOKEN", "--spec", path)
    assert result.code == 1
    assert "x claim repository_owner is 'other', the --oidc-required-claim is repository_owner=acme" in result.out


def test_the_flags_in_the_docs_are_what_render_prints():
    docs = (Path(__file__).parents[3] / "docs" / "oidc.md").read_text()
    block = docs.split("the flags are:\n\n```\n", 1)[1].split("```", 1)[0]
    spec = load(GITHUB, "      - {issuer: github, repository: acme/app, refs: [refs/heads/main]}\n")
    assert block.splitlines() == oidcflags.apiserver_flags(spec)["flags"]
