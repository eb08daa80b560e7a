"""apply / diff / prune / delete against a real kube-apiserver, and least privilege proven by its authorizer."""

from __future__ import annotations

import json

import pytest

from conftest import admin_cluster, eventually, write_kubeconfig
from runnerkit.cli.files import read_spec
from runnerkit.cluster import apply
from runnerkit.model import spec
from runnerkit.desired import render


def spec_text(u: str, extra_project: str = "") -> str:
    return f"""apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata:
  name: e2e-{u}
runners:
  - name: gl
    type: gitlab
    namespace: gitlab-runner-{u}
    release: gitlab-runner
  - name: gh
    type: github
    namespace: arc-{u}
defaults:
  runner: gl
  namespace: "{{project}}-{u}"
  namespaceLabels:
    pod-security.kubernetes.io/enforce: baseline
projects:
  - name: web
    serviceAccountAnnotations:
      eks.amazonaws.com/role-arn: arn:aws:iam::123456789012:role/web
    imagePullSecrets: [regcred]
    resourceQuota:
      hard:
        pods: "20"
    limitRange:
      limits:
        - type: Container
          default: {{cpu: 500m}}
    access:
      - preset: helm-deployer
        namespaces: [app-prod-{u}]
      - preset: viewer
  - name: builds
    runner: gh
    access:
      - preset: arc-kube-mode
      - name: one-config
        rules:
          - apiGroups: [""]
            resources: [configmaps]
            resourceNames: [settings]
            verbs: [get]
{extra_project}"""


@pytest.fixture
def provisioned(kube, unique, make_namespace, tmp_path):
    make_namespace(f"app-prod-{unique}")
    make_namespace(f"gitlab-runner-{unique}")
    path = tmp_path / "runnerkit.yaml"
    path.write_text(spec_text(unique))
    yield path, read_spec(path)
    apply.delete(kube, f"e2e-{unique}", namespaces=True)


def test_apply_twice_second_run_sends_no_writes(kube, kubeconfig, provisioned, cli_run):
    path, s = provisioned
    first = cli_run("apply", path, "--kubeconfig", kubeconfig, "-o", "json")
    assert first.code == 0, first
    report = json.loads(first.out)
    n = len(render(s))
    assert report["summary"] == {"created": n} and report["writes"] == n

    second = cli_run("apply", path, "--kubeconfig", kubeconfig, "-o", "json")
    report = json.loads(second.out)
    assert second.code == 0 and report["summary"] == {"unchanged": n}
    assert report["writes"] == 0
    assert report["requests"] <= 8  # one list per kind, nothing else

    # The same through the library: every request sent was a GET (list).
    before = len(kube.requests)
    result = apply.apply(kube, render(s), s.name)
    sent = kube.requests[before:]
    assert {m for m, _ in sent} == {"GET"} and len(sent) == len({o["kind"] for o in render(s)})
    assert result.writes == 0

    text = cli_run("apply", path, "--kubeconfig", kubeconfig)
    assert f"{n} unchanged; 0 writes" in text.out
    assert f"namespace/web-{s.name[4:]} unchanged" in text.out


def test_least_privilege_proven_by_the_authorizer(kube, provisioned):
    path, s = provisioned
    apply.apply(kube, render(s), s.name)
    u = s.name[4:]
    web = f"system:serviceaccount:web-{u}:web-ci"
    builds = f"system:serviceaccount:builds-{u}:builds-ci"
    manager = f"system:serviceaccount:gitlab-runner-{u}:gitlab-runner"

    allowed = [
        (web, "list", "secrets", f"web-{u}", ""), (web, "create", "secrets", f"app-prod-{u}", ""),
        (web, "patch", "deployments", f"app-prod-{u}", "apps"), (web, "get", "configmaps", f"web-{u}", ""),
        (web, "list", "pods", f"web-{u}", ""),  # via view
        (builds, "create", "pods/exec", f"builds-{u}", ""), (builds, "create", "jobs", f"builds-{u}", "batch"),
        (manager, "create", "pods", f"web-{u}", ""), (manager, "create", "secrets", f"web-{u}", ""),
        (manager, "create", "pods/attach", f"web-{u}", ""),
    ]
    denied = [
        (web, "get", "secrets", "default", ""), (web, "list", "secrets", f"builds-{u}", ""),
        (web, "create", "namespaces", None, ""), (web, "create", "clusterrolebindings", None, "rbac.authorization.k8s.io"),
        (web, "create", "rolebindings", f"web-{u}", "rbac.authorization.k8s.io"),
        (web, "create", "pods/exec", f"web-{u}", ""), (web, "create", "serviceaccounts/token", f"web-{u}", ""),
        (builds, "get", "secrets", f"web-{u}", ""), (builds, "delete", "nodes", None, ""),
        (manager, "create", "pods", f"builds-{u}", ""), (manager, "create", "pods", "default", ""),
        (manager, "create", "secrets", f"app-prod-{u}", ""),
    ]
    for user, verb, resource, ns, group in allowed:
        assert eventually(lambda: kube.can(user, verb, resource, ns, group)), f"{user} should {verb} {resource} in {ns}"
    for user, verb, resource, ns, group in denied:
        assert not kube.can(user, verb, resource, ns, group), f"{user} must not {verb} {resource} in {ns}"
    # resourceNames narrow exactly: settings yes, any other configmap no.
    assert kube.can(builds, "get", "configmaps", f"builds-{u}", "", name="settings")
    assert not kube.can(builds, "get", "configmaps", f"builds-{u}", "", name="other")


def test_changes_are_configured_and_hand_edits_reverted(kube, kubeconfig, provisioned, cli_run):
    path, s = provisioned
    u = s.name[4:]
    apply.apply(kube, render(s), s.name)
    from runnerkit.model.kinds import BY_KIND

    role = kube.get(BY_KIND["Role"], "runnerkit-builds-one-config", f"builds-{u}")
    role["rules"][0]["verbs"] = ["get", "list", "delete"]
    kube.request("PUT", BY_KIND["Role"].object_path(role["metadata"]["name"], f"builds-{u}"), body=role)

    diff = cli_run("diff", path, "--kubeconfig", kubeconfig)
    assert diff.code == 1, diff
    assert "-  - delete" in diff.out and "runnerkit/role.rbac.authorization.k8s.io/runnerkit-builds-one-config" in diff.out

    result = apply.apply(kube, render(s), s.name)
    assert [(c.action, c.display) for c in result.changes if c.action != "unchanged"] == [
        ("configured", f"role.rbac.authorization.k8s.io/runnerkit-builds-one-config -n builds-{u}")]
    assert result.writes == 1
    assert kube.get(BY_KIND["Role"], "runnerkit-builds-one-config", f"builds-{u}")["rules"][0]["verbs"] == ["get"]
    assert cli_run("diff", path, "--kubeconfig", kubeconfig).code == 0


def test_dry_run_changes_nothing(kube, kubeconfig, provisioned, cli_run):
    path, s = provisioned
    result = cli_run("apply", path, "--kubeconfig", kubeconfig, "--dry-run", "-o", "json")
    assert result.code == 0, result
    report = json.loads(result.out)
    assert report["dryRun"] and report["writes"] == 0 and set(report["summary"]) == {"created"}
    from runnerkit.model.kinds import BY_KIND

    assert kube.get(BY_KIND["Namespace"], f"web-{s.name[4:]}") is None


def test_prune_removes_undeclared_objects_but_keeps_namespaces(kube, kubeconfig, provisioned, cli_run, tmp_path):
    path, s = provisioned
    u = s.name[4:]
    bigger = tmp_path / "bigger.yaml"
    bigger.write_text(spec_text(u, "  - name: temp\n    access:\n      - preset: pod-reader\n"))
    assert cli_run("apply", bigger, "--kubeconfig", kubeconfig).code == 0

    no_prune = json.loads(cli_run("apply", path, "--kubeconfig", kubeconfig, "-o", "json").out)
    assert "pruned" not in no_prune["summary"]

    from runnerkit.model.kinds import BY_KIND

    dry = cli_run("apply", path, "--kubeconfig", kubeconfig, "--prune", "--prune-namespaces", "--dry-run")
    assert dry.code == 0 and f"namespace/temp-{u} pruned (server dry run)" in dry.out, dry
    for kind, name, ns in (("ServiceAccount", "temp-ci", f"temp-{u}"), ("Role", "runnerkit-temp-pod-reader", f"temp-{u}"),
                           ("Namespace", f"temp-{u}", None)):
        live = kube.get(BY_KIND[kind], name, ns)  # a dry-run DELETE must not delete anything
        assert live is not None and not live["metadata"].get("deletionTimestamp"), (kind, name)

    pruned = cli_run("apply", path, "--kubeconfig", kubeconfig, "--prune")
    assert pruned.code == 0, pruned
    assert f"rolebinding.rbac.authorization.k8s.io/runnerkit-temp-pod-reader -n temp-{u} pruned" in pruned.out
    assert f"namespace/temp-{u} kept" in pruned.out
    assert "never deleted without --prune-namespaces" in pruned.out
    assert kube.get(BY_KIND["ServiceAccount"], "temp-ci", f"temp-{u}") is None
    assert kube.get(BY_KIND["Namespace"], f"temp-{u}") is not None

    # The kept namespace was handed back: runnerkit's labels are gone, so it is no longer this
    # spec's to prune (or any spec's to be refused), and the team's data stays.
    labels = kube.get(BY_KIND["Namespace"], f"temp-{u}")["metadata"]["labels"]
    assert not {k for k in labels if k.startswith("runnerkit.io/") or k == "app.kubernetes.io/managed-by"}
    again = cli_run("apply", path, "--kubeconfig", kubeconfig, "--prune", "--prune-namespaces")
    assert f"namespace/temp-{u}" not in again.out
    kube.delete({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"temp-{u}"}})


def test_two_spec_files_never_prune_or_take_over_each_other(kube, kubeconfig, provisioned, cli_run, tmp_path, unique):
    path, s = provisioned
    assert cli_run("apply", path, "--kubeconfig", kubeconfig).code == 0
    other_text = (spec_text(unique).replace(f"name: e2e-{unique}", f"name: other-{unique}", 1)
                  .replace('"{project}-' + unique, '"{project}-o' + unique))
    clash = tmp_path / "clash.yaml"  # same project name, same shared target namespace
    clash.write_text(other_text)
    refused = cli_run("apply", clash, "--kubeconfig", kubeconfig)
    assert refused.code == 2, refused
    assert f"-n app-prod-{unique} is managed by runnerkit spec 'e2e-{unique}', not 'other-{unique}'" in refused.err

    other = tmp_path / "other.yaml"  # no shared objects: both specs live side by side
    other.write_text(other_text.replace(f"namespaces: [app-prod-{unique}]", "namespaces: []"))
    try:
        result = cli_run("apply", other, "--kubeconfig", kubeconfig, "--prune", "-o", "json")
        assert result.code == 0, result
        assert "pruned" not in json.loads(result.out)["summary"]
        second = apply.apply(kube, render(s), s.name, prune=True)
        assert second.writes == 0 and "pruned" not in second.counts()
    finally:
        apply.delete(kube, f"other-{unique}", namespaces=True)


def test_missing_target_namespace_is_a_clear_error_and_nothing_is_written(kube, kubeconfig, tmp_path, unique, cli_run):
    path = tmp_path / "runnerkit.yaml"
    path.write_text(spec_text(unique))  # app-prod-<u> does not exist
    result = cli_run("apply", path, "--kubeconfig", kubeconfig)
    assert result.code == 2
    assert f"namespace 'app-prod-{unique}' does not exist" in result.err and "nothing was changed" in result.err
    from runnerkit.model.kinds import BY_KIND

    assert kube.get(BY_KIND["Namespace"], f"web-{unique}") is None


def test_forbidden_names_the_missing_permission(kube, kubeconfig, provisioned, tmp_path, cli_run):
    """runnerkit run by a ServiceAccount that may not create namespaces: 403, exit 3, no traceback."""
    path, s = provisioned
    apply.apply(kube, render(s), s.name)
    u = s.name[4:]
    token = kube.request("POST", f"/api/v1/namespaces/web-{u}/serviceaccounts/web-ci/token",
                         body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                               "spec": {"expirationSeconds": 600}})["status"]["token"]
    server, ca = admin_cluster(kubeconfig)
    limited = write_kubeconfig(tmp_path / "limited.kubeconfig", server, ca, {"token": token})
    result = cli_run("apply", path, "--kubeconfig", limited)
    assert result.code == 3
    assert "forbidden" in result.err and "cannot list resource" in result.err and "Traceback" not in result.err
    assert token not in result.err + result.out


def test_unreachable_cluster_is_a_clear_error(tmp_path, cli_run):
    cfg = write_kubeconfig(tmp_path / "kubeconfig", "https://127.0.0.1:1", None, {"token": "abc"})
    path = tmp_path / "runnerkit.yaml"
    path.write_text(spec_text("x"))
    result = cli_run("apply", path, "--kubeconfig", cfg)
    assert result.code == 3 and "cannot reach the Kubernetes API at https://127.0.0.1:1" in result.err


def test_bad_context_is_bad_input(kubeconfig, provisioned, cli_run):
    path, _ = provisioned
    result = cli_run("apply", path, "--kubeconfig", kubeconfig, "--context", "nope")
    assert result.code == 2 and "nope" in result.err


def test_require_isolation_fails_before_any_write_on_a_cluster_without_admission_policies(
        kube, kubeconfig, tmp_path, unique, make_namespace, cli_run, monkeypatch):
    """A cluster older than 1.30 answers 404 to the policy lists: simulated at that one edge, the
    rest is the real server."""
    from runnerkit.errors import NotFound
    from runnerkit.model.kinds import BY_KIND
    from runnerkit.cluster.client import KubeClient

    real_list = KubeClient.list_objects

    def list_as_on_1_29(self, kind, *args, **kw):
        if kind.kind.startswith("ValidatingAdmissionPolicy"):
            raise NotFound("the server could not find the requested resource (404 Not Found)", 404)
        return real_list(self, kind, *args, **kw)

    make_namespace(f"gitlab-runner-{unique}")
    path = tmp_path / "runnerkit.yaml"
    path.write_text(spec_text(unique).replace("namespaces: [app-prod-{u}]".format(u=unique), "namespaces: []")
                    .replace("  - name: web\n", "  - name: web\n    gitlab: {projectIds: [42]}\n"))
    try:
        with monkeypatch.context() as m:
            m.setattr(KubeClient, "list_objects", list_as_on_1_29)
            refused = cli_run("apply", path, "--kubeconfig", kubeconfig, "--require-isolation")
            assert refused.code == 1, refused
            assert "NOT enforced for web" in refused.err and "nothing was changed" in refused.err
            assert kube.get(BY_KIND["Namespace"], f"web-{unique}") is None
            applied = cli_run("apply", path, "--kubeconfig", kubeconfig)
            assert applied.code == 0, applied
            assert "warning: the cluster does not serve ValidatingAdmissionPolicy" in applied.err
            assert "does not serve ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding: skipped 2" in applied.out
        # the real server serves the policy: --require-isolation is satisfied and the policy written
        served = cli_run("apply", path, "--kubeconfig", kubeconfig, "--require-isolation", "-o", "json")
        assert served.code == 0 and "does not serve" not in served.err + served.out, served
        policies = kube.list_objects(BY_KIND["ValidatingAdmissionPolicy"], f"runnerkit.io/spec=e2e-{unique}")
        assert [p["metadata"]["name"] for p in policies] == [f"runnerkit-e2e-{unique}-web-gitlab-isolation"]
    finally:
        apply.delete(kube, f"e2e-{unique}", namespaces=True)


def test_rejected_credentials_are_a_clear_error_without_the_token(kubeconfig, tmp_path, cli_run):
    server, ca = admin_cluster(kubeconfig)
    bogus = "not-a-valid-token-0123456789"
    cfg = write_kubeconfig(tmp_path / "bogus.kubeconfig", server, ca, {"token": bogus})
    path = tmp_path / "runnerkit.yaml"
    path.write_text(spec_text("x"))
    result = cli_run("apply", path, "--kubeconfig", cfg)
    assert result.code == 3, result
    assert "rejected the credentials (401 Unauthorized)" in result.err and "Traceback" not in result.err
    assert bogus not in result.err + result.out
