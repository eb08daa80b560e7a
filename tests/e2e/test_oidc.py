"""Keyless CI identities on the real API server, with real requests.

The tests serve two OIDC issuers (GitHub- and GitLab-shaped) over HTTPS on 127.0.0.1 with their own
CA, write runnerkit's generated AuthenticationConfiguration to the file the e2e API server was
started with (--authentication-config), wait until the server has reloaded it, and then call the
API with minted ID tokens as bearer tokens.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import requests
import yaml

from conftest import admin_cluster, eventually, run_cli
from oidc_issuer import IssuerServer, github_claims, gitlab_claims

RELOAD_SECONDS = 120  # the API server re-reads the file on its own schedule


def auth_config_path(kubeconfig: str) -> Path:
    state = Path(os.environ.get("RUNNERKIT_E2E_DIR") or Path(kubeconfig).parent)
    path = state / "authentication-config.yaml"
    assert path.exists(), (f"{path} is missing: the e2e API server must run with "
                           "--authentication-config (scripts/e2e-cluster does)")
    return path


def write_atomically(path: Path, text: str) -> None:
    # The server polls the file: a half-written file would be read as an (invalid) empty config.
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def spec_text(u: str, issuer: IssuerServer, github_owners: str = "[acme]") -> str:
    ca = json.dumps(issuer.ca_pem)
    return f"""apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata: {{name: oidc-{u}}}
issuers:
  - name: github
    url: {issuer.url('github')}
    audience: runnerkit-e2e-{u}
    owners: {github_owners}
    certificateAuthority: {ca}
  - name: gitlab
    url: {issuer.url('gitlab')}
    audience: runnerkit-e2e-{u}
    groups: [acme]
    certificateAuthority: {ca}
runners: [{{name: ci, type: github, namespace: oidc-ci-{u}}}]
defaults:
  runner: ci
  access:
    - rules: [{{apiGroups: [""], resources: [configmaps], verbs: [get, list, create]}}]
projects:
  - name: a
    namespace: oidc-a-{u}
    identities:
      - {{issuer: github, repository: acme/a-{u}, refs: [refs/heads/main]}}
      - {{issuer: github, repository: acme/a-{u}, environments: [prod]}}
      - {{issuer: gitlab, projectPath: acme/a-{u}, refs: [main]}}
  - name: b
    namespace: oidc-b-{u}
    identities:
      - {{issuer: github, repository: acme/b-{u}, refs: [refs/heads/main]}}
"""


class Api:
    def __init__(self, server: str, ca: Path):
        self.server, self.ca = server, str(ca)

    def call(self, method: str, path: str, token: str, body: dict | None = None) -> requests.Response:
        return requests.request(method, self.server + path, json=body, verify=self.ca, timeout=10,
                                headers={"Authorization": f"Bearer {token}"})

    def whoami(self, token: str) -> requests.Response:
        return self.call("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", token,
                         {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})

    def create_configmap(self, namespace: str, token: str) -> int:
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "oidc-"}}
        return self.call("POST", f"/api/v1/namespaces/{namespace}/configmaps", token, body).status_code


def wait_for_reload(api: Api, token: str, username: str) -> None:
    deadline = time.monotonic() + RELOAD_SECONDS
    while time.monotonic() < deadline:
        r = api.whoami(token)
        if r.status_code == 201 and r.json()["status"]["userInfo"]["username"] == username:
            return
        time.sleep(1)
    pytest.fail(f"the API server did not pick up the authentication config within {RELOAD_SECONDS}s")


@pytest.fixture(scope="module")
def oidc(kubeconfig, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("oidc")
    u = os.urandom(3).hex()
    config_path = auth_config_path(kubeconfig)
    original = config_path.read_text()
    server, ca = admin_cluster(kubeconfig)
    (tmp / "api-ca.crt").write_bytes(ca)
    with IssuerServer(tmp) as issuer:
        spec = tmp / "runnerkit.yaml"
        spec.write_text(spec_text(u, issuer))
        applied = run_cli("apply", spec, "--kubeconfig", kubeconfig)
        assert applied.code == 0, applied
        rendered = run_cli("render", "--format", "authentication-config", "--kubernetes-version", "1.37", spec)
        assert rendered.code == 0, rendered
        write_atomically(config_path, rendered.out)
        ctx = Context(u, issuer, Api(server, tmp / "api-ca.crt"), spec, config_path)
        wait_for_reload(ctx.api, ctx.github(f"acme/a-{u}"), ctx.github_username(f"acme/a-{u}"))
        try:
            yield ctx
        finally:
            write_atomically(config_path, original)
            run_cli("delete", spec, "--delete-namespaces", "--kubeconfig", kubeconfig)


class Context:
    def __init__(self, u: str, issuer: IssuerServer, api: Api, spec: Path, config_path: Path):
        self.u, self.issuer, self.api, self.spec, self.config_path = u, issuer, api, spec, config_path
        self.aud = f"runnerkit-e2e-{u}"
        self.ns_a, self.ns_b = f"oidc-a-{u}", f"oidc-b-{u}"

    def github(self, repository: str, **kw) -> str:
        return self.issuer.keys["github"].sign(github_claims(self.issuer.url("github"), self.aud, repository, **kw))

    def gitlab(self, project_path: str, **kw) -> str:
        return self.issuer.keys["gitlab"].sign(gitlab_claims(self.issuer.url("gitlab"), self.aud, project_path, **kw))

    def github_username(self, repository: str) -> str:
        return (f"github:repo:{repository}:ref:refs/heads/main:workflow:"
                f"{repository}/.github/workflows/deploy.yml@refs/heads/main")


def test_repo_a_main_maps_to_its_identity_on_the_real_server(oidc):
    r = oidc.api.whoami(oidc.github(f"acme/a-{oidc.u}"))
    assert r.status_code == 201
    user = r.json()["status"]["userInfo"]
    assert user["username"] == oidc.github_username(f"acme/a-{oidc.u}")
    assert f"github:repo:acme/a-{oidc.u}:ref:refs/heads/main" in user["groups"]


def test_repo_a_main_can_do_what_a_declares_in_a_and_nothing_in_b(oidc):
    token = oidc.github(f"acme/a-{oidc.u}")
    assert eventually(lambda: oidc.api.create_configmap(oidc.ns_a, token) == 201, 10)
    assert oidc.api.call("GET", f"/api/v1/namespaces/{oidc.ns_a}/configmaps", token).status_code == 200
    assert oidc.api.call("GET", f"/api/v1/namespaces/{oidc.ns_a}/secrets", token).status_code == 403
    assert oidc.api.call("DELETE", f"/api/v1/namespaces/{oidc.ns_a}/configmaps/kube-root-ca.crt",
                         token).status_code == 403
    assert oidc.api.create_configmap(oidc.ns_b, token) == 403
    assert oidc.api.call("GET", f"/api/v1/namespaces/{oidc.ns_b}/configmaps", token).status_code == 403
    b = oidc.github(f"acme/b-{oidc.u}")
    assert eventually(lambda: oidc.api.create_configmap(oidc.ns_b, b) == 201, 10)
    assert oidc.api.create_configmap(oidc.ns_a, b) == 403


def test_a_pull_request_token_of_repo_a_is_denied(oidc):
    for event, ref in (("pull_request", "refs/pull/3/merge"), ("pull_request_target", "refs/heads/main")):
        token = oidc.github(f"acme/a-{oidc.u}", event_name=event, ref=ref)
        assert oidc.api.whoami(token).status_code == 201  # authenticated...
        assert oidc.api.create_configmap(oidc.ns_a, token) == 403  # ...but bound to nothing


def test_another_environment_is_denied_the_declared_one_allowed(oidc):
    repo = f"acme/a-{oidc.u}"
    prod = oidc.github(repo, ref="refs/heads/release", environment="prod")
    assert eventually(lambda: oidc.api.create_configmap(oidc.ns_a, prod) == 201, 10)
    staging = oidc.github(repo, ref="refs/heads/release", environment="staging")
    assert oidc.api.create_configmap(oidc.ns_a, staging) == 403


def test_gitlab_protected_main_is_allowed_an_unprotected_ref_denied(oidc):
    project = f"acme/a-{oidc.u}"
    assert eventually(lambda: oidc.api.create_configmap(oidc.ns_a, oidc.gitlab(project)) == 201, 10)
    assert oidc.api.create_configmap(oidc.ns_a, oidc.gitlab(project, protected=False)) == 403
    assert oidc.api.create_configmap(oidc.ns_a, oidc.gitlab(project, ref="feature")) == 403
    assert oidc.api.create_configmap(oidc.ns_b, oidc.gitlab(project)) == 403


def test_an_owner_or_group_not_in_the_spec_gets_401(oidc):
    assert oidc.api.create_configmap(oidc.ns_a, oidc.github(f"evil/a-{oidc.u}")) == 401
    assert oidc.api.create_configmap(oidc.ns_a, oidc.gitlab(f"evil/a-{oidc.u}")) == 401
    assert oidc.api.whoami(oidc.github(f"evil/a-{oidc.u}")).status_code == 401


def test_an_expired_token_gets_401(oidc):
    old = int(time.time()) - 3600
    token = oidc.github(f"acme/a-{oidc.u}", now=old, lifetime=300)
    assert oidc.api.create_configmap(oidc.ns_a, token) == 401


def test_a_token_for_another_audience_gets_401(oidc):
    token = oidc.issuer.keys["github"].sign(
        github_claims(oidc.issuer.url("github"), "https://other.example", f"acme/a-{oidc.u}"))
    assert oidc.api.whoami(token).status_code == 401


def test_a_token_signed_by_another_key_gets_401(oidc):
    forged = oidc.issuer.keys["gitlab"].sign(  # the GitLab issuer's key, GitHub's iss
        github_claims(oidc.issuer.url("github"), oidc.aud, f"acme/a-{oidc.u}"))
    assert oidc.api.whoami(forged).status_code == 401


def test_changing_the_spec_and_re_rendering_takes_effect_without_a_restart(oidc):
    newcomer = oidc.github(f"newco/app-{oidc.u}")
    assert oidc.api.whoami(newcomer).status_code == 401
    oidc.spec.write_text(spec_text(oidc.u, oidc.issuer, github_owners="[acme, newco]"))
    rendered = run_cli("render", "--format", "authentication-config", oidc.spec)
    assert rendered.code == 0, rendered
    write_atomically(oidc.config_path, rendered.out)
    wait_for_reload(oidc.api, newcomer, oidc.github_username(f"newco/app-{oidc.u}"))
    # still nothing granted to it: authenticated is not authorized
    assert oidc.api.create_configmap(oidc.ns_a, newcomer) == 403
