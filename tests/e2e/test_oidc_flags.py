"""The --oidc-* flags fallback on a real API server, with real requests.

The e2e API server runs with --authentication-config, which kube-apiserver refuses to combine with
the --oidc-* flags. So each test module run starts a second kube-apiserver of the same build on the
same etcd, with the e2e server's flags minus --authentication-config plus exactly the flags
`runnerkit render --format oidc-flags` prints. The bindings `runnerkit apply` wrote through the
first server are the second one's too (one etcd).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from conftest import admin_cluster, run_cli
from e2e.oidc_cluster import Api
from oidc_issuer import IssuerServer, github_claims, gitlab_claims

STARTUP_SECONDS = 90


def spec_text(u: str, issuer: IssuerServer, kind: str) -> str:
    ca = json.dumps(issuer.ca_pem)
    owners = "owners: [acme]" if kind == "github" else "groups: [acme]"
    if kind == "github":
        identities = (f"      - {{issuer: {kind}, repository: acme/a-{u}, refs: [refs/heads/main]}}\n"
                      f"      - {{issuer: {kind}, repository: acme/a-{u}, environments: [prod], pullRequest: true}}\n")
        b = f"      - {{issuer: {kind}, repository: acme/b-{u}, refs: [refs/heads/main]}}\n"
    else:
        identities = f"      - {{issuer: {kind}, projectPath: acme/a-{u}, refs: [main]}}\n"
        b = f"      - {{issuer: {kind}, projectPath: acme/b-{u}, refs: [main]}}\n"
    return f"""apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata: {{name: flags-{kind}-{u}}}
issuers:
  - name: {kind}
    url: {issuer.url(kind)}
    audience: runnerkit-e2e-{u}
    {owners}
    certificateAuthority: {ca}
    authentication: oidc-flags
runners: [{{name: ci, type: github, namespace: flags-ci-{u}}}]
defaults:
  runner: ci
  access:
    - rules: [{{apiGroups: [""], resources: [configmaps], verbs: [get, list, create]}}]
projects:
  - name: a
    namespace: flags-a-{u}
    identities:
{identities}  - name: b
    namespace: flags-b-{u}
    identities:
{b}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def e2e_apiserver_argv(kubeconfig: str) -> list[str]:
    state = Path(os.environ.get("RUNNERKIT_E2E_DIR") or Path(kubeconfig).parent)
    pid = (state / "kube-apiserver.pid").read_text().strip()
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
    assert argv[0].endswith("kube-apiserver") and any(a.startswith("--authentication-config=") for a in argv)
    return argv


@contextmanager
def second_apiserver(kubeconfig: str, flags: list[str], tmp: Path, ca: Path) -> Iterator[str]:
    port = free_port()
    argv = [a for a in e2e_apiserver_argv(kubeconfig)
            if not a.startswith(("--authentication-config=", "--secure-port=", "--cert-dir="))]
    argv += [f"--secure-port={port}", f"--cert-dir={tmp / 'certs'}", *flags]
    log = (tmp / "kube-apiserver-oidc-flags.log").open("w")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert proc.poll() is None, (tmp / "kube-apiserver-oidc-flags.log").read_text()[-3000:]
            try:
                if requests.get(server + "/readyz", verify=str(ca), timeout=2).text == "ok":
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "the second kube-apiserver did not become ready"
            time.sleep(0.5)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


class Flags:
    def __init__(self, u: str, kind: str, issuer: IssuerServer, api: Api, rendered: dict, spec: Path):
        self.u, self.kind, self.issuer, self.api, self.rendered = u, kind, issuer, api, rendered
        self.spec = spec
        self.ns_a, self.ns_b, self.aud = f"flags-a-{u}", f"flags-b-{u}", f"runnerkit-e2e-{u}"

    def token(self, repo: str, **kw) -> str:
        claims = (github_claims if self.kind == "github" else gitlab_claims)(
            self.issuer.url(self.kind), self.aud, repo, **kw)
        return self.issuer.keys[self.kind].sign(claims)


@pytest.fixture(scope="module", params=["github", "gitlab"])
def flags(request, kubeconfig, tmp_path_factory):
    kind = request.param
    tmp = tmp_path_factory.mktemp(f"oidc-flags-{kind}")
    u = os.urandom(3).hex()
    server, ca = admin_cluster(kubeconfig)
    (tmp / "api-ca.crt").write_bytes(ca)
    with IssuerServer(tmp, (kind,)) as issuer:
        spec = tmp / "runnerkit.yaml"
        spec.write_text(spec_text(u, issuer, kind))
        applied = run_cli("apply", spec, "--kubeconfig", kubeconfig)
        assert applied.code == 0, applied
        rendered = run_cli("render", "--format", "oidc-flags", "-o", "json", spec)
        assert rendered.code == 0, rendered
        doc = json.loads(rendered.out)
        # The CA file the flags name is the admin's to write; here it goes to the test's directory.
        ca_file = tmp / "issuer-ca.crt"
        ca_file.write_text(issuer.ca_pem)
        argv = [f"--oidc-ca-file={ca_file}" if f.startswith("--oidc-ca-file=") else f for f in doc["flags"]]
        try:
            with second_apiserver(kubeconfig, argv, tmp, tmp / "api-ca.crt") as url:
                yield Flags(u, kind, issuer, Api(url, tmp / "api-ca.crt"), doc, spec)
        finally:
            run_cli("delete", spec, "--delete-namespaces", "--kubeconfig", kubeconfig)


def wait_authenticated(flags: Flags, token: str) -> requests.Response:
    # The flags' authenticator fetches the issuer's keys in the background after startup.
    deadline = time.monotonic() + 30
    while True:
        r = flags.api.whoami(token)
        if r.status_code == 201 or time.monotonic() > deadline:
            return r
        time.sleep(0.5)


def test_the_declared_job_is_the_user_runnerkit_bound_and_gets_only_its_grants(flags):
    token = flags.token(f"acme/a-{flags.u}")
    r = wait_authenticated(flags, token)
    assert r.status_code == 201, r.text
    user = r.json()["status"]["userInfo"]
    expected = (f"github:repo:acme/a-{flags.u}:ref:refs/heads/main" if flags.kind == "github" else
                f"gitlab:project_path:acme/a-{flags.u}:ref_type:branch:ref:main")
    assert user["username"] == expected
    assert set(user["groups"]) == {"system:authenticated"}
    assert flags.api.create_configmap(flags.ns_a, token) == 201
    assert flags.api.call("GET", f"/api/v1/namespaces/{flags.ns_a}/secrets", token).status_code == 403
    assert flags.api.create_configmap(flags.ns_b, token) == 403
    assert flags.api.create_configmap(flags.ns_b, flags.token(f"acme/b-{flags.u}")) == 201


def test_other_refs_and_pull_requests_are_denied_environments_as_declared(flags):
    repo = f"acme/a-{flags.u}"
    wait_authenticated(flags, flags.token(repo))
    assert flags.api.create_configmap(flags.ns_a, flags.token(repo, ref="feature" if flags.kind == "gitlab"
                                                               else "refs/heads/feature")) == 403
    if flags.kind == "github":
        pr = flags.token(repo, ref="refs/pull/3/merge", event_name="pull_request")
        assert flags.api.whoami(pr).status_code == 201
        assert flags.api.create_configmap(flags.ns_a, pr) == 403
        assert flags.api.create_configmap(flags.ns_a, flags.token(repo, environment="prod")) == 201
        assert flags.api.create_configmap(flags.ns_a, flags.token(repo, environment="staging")) == 403


def test_required_claims_turn_foreign_owners_and_unprotected_refs_away_with_401(flags):
    wait_authenticated(flags, flags.token(f"acme/a-{flags.u}"))
    assert flags.api.create_configmap(flags.ns_a, flags.token(f"evil/a-{flags.u}")) == 401
    if flags.kind == "gitlab":
        unprotected = flags.token(f"acme/a-{flags.u}", protected=False)
        assert flags.api.create_configmap(flags.ns_a, unprotected) == 401
        assert "--oidc-required-claim=ref_protected=true" in flags.rendered["flags"]


def test_verify_proves_the_user_bindings(flags, kubeconfig):
    # RBAC is shared through etcd, so verify asks the e2e server about the users the flags map to.
    result = run_cli("verify", flags.spec, "--kubeconfig", kubeconfig, "-o", "json")
    assert result.code == 0, result
    checks = json.loads(result.out)["identities"]
    assert {c["project"] for c in checks} == {"a", "b"} and all(c["ok"] for c in checks)
    declared = [case for c in checks for case in c["cases"] if case["case"] == "declared job"]
    assert all(case["groups"] == [] and case["username"].startswith(f"{flags.kind}:") for case in declared)
