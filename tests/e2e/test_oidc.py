"""Keyless CI identities on the real API server, with real requests.

The tests serve two OIDC issuers (GitHub- and GitLab-shaped) over HTTPS on 127.0.0.1 with their own
CA, write runnerkit's generated AuthenticationConfiguration to the file the e2e API server was
started with (--authentication-config), wait until the server has reloaded it, and then call the
API with minted ID tokens as bearer tokens.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import requests
import yaml

from conftest import CACHE, KUBECTL, eventually, run_cli
from e2e.oidc_cluster import RELOAD_SECONDS, oidc, spec_text, wait_for_reload, write_atomically  # noqa: F401 (fixture)
from oidc_issuer import GithubTokenEndpoint, github_claims

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


HELM = CACHE / "tools" / "v37" / "helm"
CHART = {"Chart.yaml": "apiVersion: v2\nname: hello\nversion: 0.1.0\n",
         "templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: hello}\n"
                              "data: {revision: \"{{ .Release.Revision }}\"}\n"}


def test_the_exec_plugin_refreshes_the_token_in_one_process_and_drives_helm(oidc, tmp_path):
    assert KUBECTL and HELM.exists(), "kubectl and helm come from scripts/fetch-helm-kubectl"
    lifetime = 40  # the plugin reports exp - 30 s: client-go asks again after ~10 s
    endpoint = GithubTokenEndpoint(lambda: oidc.github(f"acme/a-{oidc.u}", lifetime=lifetime))
    runnerkit = str(Path(sys.executable).parent / "runnerkit")
    kubeconfig = tmp_path / "kubeconfig"
    made = run_cli("credential", "kubeconfig", "github", "--audience", oidc.aud, "--server", oidc.api.server,
                   "--ca-file", oidc.api.ca, "-n", oidc.ns_a, "--command", runnerkit, "--to", kubeconfig)
    assert made.code == 0, made
    assert "token" not in yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]
    env = {**endpoint.env, "KUBECONFIG": str(kubeconfig), "HELM_DRIVER": "configmap"}
    for d, text in CHART.items():
        (tmp_path / "chart" / d).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "chart" / d).write_text(text)
    helm = [str(HELM), "upgrade", "--install", "hello", str(tmp_path / "chart"), "-n", oidc.ns_a]
    proxy = subprocess.Popen([KUBECTL, "proxy", "--port=0"], env=env, stdout=subprocess.PIPE, text=True)
    try:
        port = re.search(r":(\d+)", proxy.stdout.readline())[1]
        url = f"http://127.0.0.1:{port}/api/v1/namespaces/{oidc.ns_a}/configmaps"
        assert eventually(lambda: requests.get(url, timeout=10).status_code == 200, 10)
        first = subprocess.run(helm, env=env, capture_output=True, text=True, timeout=120)
        assert first.returncode == 0, first.stderr
        time.sleep(lifetime + 5)  # every token issued so far has expired
        assert requests.get(url, timeout=10).status_code == 200  # the same proxy process re-ran the plugin
        second = subprocess.run(helm, env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stderr
    finally:
        proxy.terminate()
        proxy.wait(10)
        endpoint.close()
    assert len(endpoint.issued) >= 3 and endpoint.issued[-1] - endpoint.issued[0] > lifetime
    assert set(endpoint.requests) == {endpoint.expected_request(oidc.aud)}
    cm = oidc.api.call("GET", f"/api/v1/namespaces/{oidc.ns_a}/configmaps/hello",
                       oidc.github(f"acme/a-{oidc.u}")).json()
    assert cm["data"] == {"revision": "2"}


def test_verify_proves_identity_grants_and_denials_and_catches_a_binding_to_pull_requests(oidc, kubeconfig, kube):
    ok = run_cli("verify", oidc.spec, "--kubeconfig", kubeconfig)
    assert ok.code == 0, ok
    assert f"  ok project a: github acme/a-{oidc.u}; refs refs/heads/main; no pull requests" in ok.out
    assert "      a pull request: 0 of" in ok.out and "      an unprotected ref: 0 of" in ok.out
    report = json.loads(run_cli("verify", oidc.spec, "--kubeconfig", kubeconfig, "-o", "json").out)
    assert [c["ok"] for c in report["identities"]] == [True] * 4
    # a binding runnerkit did not render grants A's pull requests: verify must fail and say so
    pr_group = f"github:repo:acme/a-{oidc.u}:ref:refs/pull/1/merge:workflow:acme/a-{oidc.u}/.github/workflows/deploy.yml@refs/heads/main:pull_request"
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "oops-pull-requests", "namespace": oidc.ns_a},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
               "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": pr_group}]}
    kube.apply(binding)
    try:
        assert eventually(lambda: run_cli("verify", oidc.spec, "--kubeconfig", kubeconfig).code == 1, 10)
        bad = run_cli("verify", oidc.spec, "--kubeconfig", kubeconfig)
        assert f"  x project a: github acme/a-{oidc.u}; refs refs/heads/main; no pull requests" in bad.out
        assert f"x a pull request: get configmaps in {oidc.ns_a} is ALLOWED but the spec says denied" in bad.out
    finally:
        kube.delete(binding)


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


# -- audit: a grant to system:authenticated is a grant to every token the server accepts ---------------


def test_audit_flags_a_grant_to_system_authenticated_that_a_stranger_really_gets(oidc, kubeconfig, kube):
    reader = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
              "metadata": {"name": f"oidc-{oidc.u}-cm-reader"},
              "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]}
    everyone = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "everyone-reads", "namespace": oidc.ns_b},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": reader["metadata"]["name"]},
                "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "system:authenticated"}]}
    stranger_binding = {**everyone, "metadata": {"name": "stranger", "namespace": oidc.ns_b},
                        "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io",
                                      "name": f"github:repo:other-{oidc.u}/x"}]}
    # a repository of an allowed owner that no project declares: it authenticates, and only
    # system:authenticated (plus its own identity groups, bound to nothing) applies to it
    unrelated = oidc.github(f"acme/unrelated-{oidc.u}")
    listing = f"/api/v1/namespaces/{oidc.ns_b}/configmaps"
    assert oidc.api.call("GET", listing, unrelated).status_code == 403
    before = run_cli("audit", "--kubeconfig", kubeconfig, "--spec", oidc.spec, "-o", "json", "--fail-on", "none")
    assert before.code == 0, before
    ours = lambda run: {(f["check"], f["severity"], f["binding"]) for f in json.loads(run.out)["findings"]  # noqa: E731
                        if f["check"] in ("oidc-authenticated", "identity-outside-spec", "anonymous-grant")}
    assert not {f for f in ours(before) if oidc.ns_a in f[2] or oidc.ns_b in f[2]}
    # the bootstrap bindings (system:basic-user, system:discovery, system:public-info-viewer) are not flagged
    assert not {f for f in ours(before) if f[2].startswith("ClusterRoleBinding/system:")}, ours(before)
    kube.apply(reader)
    kube.apply(everyone)
    kube.apply(stranger_binding)
    try:
        assert eventually(lambda: oidc.api.call("GET", listing, unrelated).status_code == 200, 10)
        run = run_cli("audit", "--kubeconfig", kubeconfig, "--spec", oidc.spec, "-o", "json")
        assert run.code == 1, run
        assert {("oidc-authenticated", "HIGH", f"RoleBinding/everyone-reads -n {oidc.ns_b}"),
                ("identity-outside-spec", "MEDIUM", f"RoleBinding/stranger -n {oidc.ns_b}")} <= ours(run)
        assert not {f for f in ours(run) if f[2].startswith("ClusterRoleBinding/system:")}
        assert not {f for f in ours(run) if oidc.ns_a in f[2]}  # runnerkit's own identity bindings
        [f] = [f for f in json.loads(run.out)["findings"] if f["binding"] == f"RoleBinding/everyone-reads -n {oidc.ns_b}"]
        assert f["rule"] == 'apiGroups: [""] resources: [configmaps] verbs: [get, list]'
        assert f"accepts tokens from {oidc.issuer.url('github')}, {oidc.issuer.url('gitlab')}" in f["why"]
        # without knowing the issuer, audit cannot tell (the API does not say)
        blind = run_cli("audit", "--kubeconfig", kubeconfig, "-o", "json", "--fail-on", "none")
        assert ("oidc-authenticated", "HIGH", f"RoleBinding/everyone-reads -n {oidc.ns_b}") not in ours(blind)
        told = run_cli("audit", "--kubeconfig", kubeconfig, "-n", oidc.ns_b, "--oidc-issuer", oidc.issuer.url("github"),
                       "-o", "yaml")
        assert told.code == 1 and {f["check"] for f in yaml.safe_load(told.out)["findings"]} == {"oidc-authenticated"}
    finally:
        kube.delete(stranger_binding)
        kube.delete(everyone)
        kube.delete(reader)


def test_audit_flags_a_projects_identity_bound_in_another_projects_namespace_despite_runnerkit_labels(
        oidc, kubeconfig, kube):
    """Labels copied from runnerkit's own binding do not make a grant the spec's: project a's identity
    group bound in project b's namespace really lets a's main branch read there, and audit --spec flags
    exactly that binding, not the bindings apply rendered."""
    group = f"github:repo:acme/a-{oidc.u}:ref:refs/heads/main"
    from runnerkit.model.kinds import BY_KIND

    [ours] = [b for b in kube.list_objects(BY_KIND["RoleBinding"], namespace=oidc.ns_b)  # what apply wrote for project b
              if b["metadata"]["name"].startswith("runnerkit-b-")]
    copied = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
              "metadata": {"name": ours["metadata"]["name"] + "-copy", "namespace": oidc.ns_b,
                           "labels": ours["metadata"]["labels"]},
              "roleRef": ours["roleRef"],
              "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": group}]}
    assert ours["metadata"]["labels"]["runnerkit.io/spec"] == f"oidc-{oidc.u}"
    token = oidc.github(f"acme/a-{oidc.u}")
    listing = f"/api/v1/namespaces/{oidc.ns_b}/configmaps"
    assert oidc.api.call("GET", listing, token).status_code == 403
    identity = lambda run: {f["binding"] for f in json.loads(run.out)["findings"]  # noqa: E731
                            if f["check"] == "identity-outside-spec"}
    kube.apply(copied)
    try:
        assert eventually(lambda: oidc.api.call("GET", listing, token).status_code == 200, 10)
        run = run_cli("audit", "--kubeconfig", kubeconfig, "--spec", oidc.spec, "--authentication-config",
                      oidc.config_path, "-o", "json")
        assert run.code == 1, run
        copy = f"RoleBinding/{copied['metadata']['name']} -n {oidc.ns_b}"
        assert {b for b in identity(run) if oidc.ns_a in b or oidc.ns_b in b} == {copy}
        [f] = [f for f in json.loads(run.out)["findings"] if f["binding"] == copy]
        assert f["subject"] == f"Group {group}" and f["severity"] == "MEDIUM"
        assert "does not grant it this role here" in f["why"]
    finally:
        kube.delete(copied)


# -- v1beta1: what 1.30-1.33 get, loaded and enforced by the real (1.37) server -------------------------


def reload_metrics(kubeconfig: str) -> tuple[str, float]:
    """(hash of the config the server runs, failed automatic reloads so far), from its /metrics."""
    out = subprocess.run([KUBECTL, "--kubeconfig", kubeconfig, "get", "--raw", "/metrics"], capture_output=True,
                         text=True, timeout=30, check=True).stdout
    info = re.search(r'^apiserver_authentication_config_controller_last_config_info\{[^}]*hash="sha256:([0-9a-f]+)"',
                     out, re.M)
    failures = re.findall(r'^apiserver_authentication_config_controller_automatic_reloads_total\{[^}]*'
                          r'status="failure"[^}]*\} (\S+)', out, re.M)
    assert info, "the API server exports no authentication config metrics"
    return info[1], sum(float(f) for f in failures)


def test_the_v1beta1_rendering_is_loaded_and_enforced_by_the_real_server(oidc, kubeconfig, tmp_path):
    import hashlib

    newcomer_repo = f"beta-{oidc.u}/app"
    newcomer = oidc.github(newcomer_repo)
    assert oidc.api.whoami(newcomer).status_code == 401  # only the new file admits this owner
    spec = tmp_path / "runnerkit.yaml"
    spec.write_text(spec_text(oidc.u, oidc.issuer, github_owners=f"[acme, beta-{oidc.u}]"))
    rendered = run_cli("render", "--format", "authentication-config", "--kubernetes-version", "1.33", spec)
    assert rendered.code == 0, rendered
    assert yaml.safe_load(rendered.out)["apiVersion"] == "apiserver.config.k8s.io/v1beta1"
    _, failures = reload_metrics(kubeconfig)
    try:
        write_atomically(oidc.config_path, rendered.out)
        wait_for_reload(oidc.api, newcomer, oidc.github_username(newcomer_repo))
        # loaded, not kept: the server runs exactly this file, and no reload failed
        assert reload_metrics(kubeconfig) == (hashlib.sha256(rendered.out.encode()).hexdigest(), failures)
        # enforced like v1: declared grants, pull requests, foreign owners, expiry
        a = oidc.github(f"acme/a-{oidc.u}")
        assert eventually(lambda: oidc.api.create_configmap(oidc.ns_a, a) == 201, 10)
        assert oidc.api.create_configmap(oidc.ns_b, a) == 403
        pr = oidc.github(f"acme/a-{oidc.u}", event_name="pull_request", ref="refs/pull/3/merge")
        assert oidc.api.create_configmap(oidc.ns_a, pr) == 403
        assert oidc.api.create_configmap(oidc.ns_a, oidc.gitlab(f"acme/a-{oidc.u}", protected=False)) == 403
        assert oidc.api.whoami(oidc.github(f"evil/a-{oidc.u}")).status_code == 401
        assert oidc.api.whoami(oidc.github(f"acme/a-{oidc.u}", now=int(time.time()) - 3600)).status_code == 401
        # the control: a file the server refuses is counted as a failure and the old one kept
        broken = rendered.out.replace("  claimMappings:", "  claimMapping:", 1)
        assert broken != rendered.out
        write_atomically(oidc.config_path, broken)
        assert eventually(lambda: reload_metrics(kubeconfig)[1] > failures, RELOAD_SECONDS)
        assert reload_metrics(kubeconfig)[0] == hashlib.sha256(rendered.out.encode()).hexdigest()
        assert oidc.api.whoami(newcomer).status_code == 201
    finally:
        restored = run_cli("render", "--format", "authentication-config", oidc.spec)
        write_atomically(oidc.config_path, restored.out)
    assert eventually(lambda: oidc.api.whoami(newcomer).status_code == 401, RELOAD_SECONDS)
