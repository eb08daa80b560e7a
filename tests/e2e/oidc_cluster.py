"""The e2e API server with OIDC issuers: test issuers over HTTPS, runnerkit's generated
AuthenticationConfiguration written to the server's --authentication-config file (restored after
the module), and two projects with GitHub and GitLab identities. Shared by the OIDC e2e test
modules: import `oidc` (a module-scoped fixture) and the helpers from here.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import requests

from conftest import admin_cluster, run_cli
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
    - rules: [{{apiGroups: [""], resources: [configmaps], verbs: [get, list, create, update, patch]}}]
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
