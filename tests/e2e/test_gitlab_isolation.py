"""GitLab project isolation enforced by the live API server (ValidatingAdmissionPolicy), through
`runnerkit apply` and through the chart: pods are created (server-side dry run, so admission runs
and nothing is stored) as the runner manager, labelled the way gitlab-runner labels job pods."""

from __future__ import annotations

from conftest import eventually, run_cli
from runnerkit.model import validate
from runnerkit.cli.files import read_spec
from runnerkit.cluster import apply
from runnerkit.errors import ApiError
from runnerkit.gitlab import isolation
from runnerkit.gitlab.enforcement import ENFORCED, check_isolation, probe_pod
from runnerkit.gitlab.isolation import ID_LABEL, NAMESPACE_LABEL, ROOT_NAMESPACE_LABEL, sanitize_label
from runnerkit.model.kinds import BY_KIND
from runnerkit.desired import render


def tenants_spec(u: str) -> str:
    return f"""apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata: {{name: iso-{u}}}
runners:
  - {{name: shared, type: gitlab, namespace: glr-{u}}}
defaults: {{runner: shared}}
projects:
  - {{name: web-{u}, gitlab: {{projectIds: [4211]}}}}
  - {{name: infra-{u}, gitlab: {{groups: [platform]}}}}
  - {{name: builds-{u}, gitlab: {{groups: [tools/build_infra]}}}}
"""


def job(project_id: str, path: str) -> dict:
    """The labels gitlab-runner's buildLabels puts on a job pod of project `project_id` at `path`."""
    return {ID_LABEL: project_id, NAMESPACE_LABEL: sanitize_label(path),
            ROOT_NAMESPACE_LABEL: sanitize_label(path.split("/")[0])}


# (tenant, labels, admitted): the documented behaviour, case by case.
MATRIX = [
    ("web", job("4211", "acme/web"), True),                 # the tenant's own project
    ("web", job("4212", "acme/web"), False),                # another project ID
    ("web", None, False),                                   # a pod with no project label
    ("infra", job("77", "platform"), True),                 # a project directly in the group
    ("infra", job("78", "platform/deep/er"), True),         # any depth under a top-level group
    ("infra", job("79", "platformx"), False),               # a look-alike group name
    ("builds", job("90", "tools/build_infra"), True),       # a project directly in the subgroup
    ("builds", job("91", "tools_build/infra"), False),      # same label, another top-level group
    ("builds", job("92", "tools"), False),                  # the parent group is not the subgroup
    ("web", job("4211", "acme/web") | {ID_LABEL: "4211x"}, False),
]


def admitted(client, namespace: str, labels: dict | None) -> tuple[bool, str]:
    pod = probe_pod(labels or {})
    if labels is None:
        del pod["metadata"]["labels"]
    try:
        client.request("POST", f"/api/v1/namespaces/{namespace}/pods", query={"dryRun": "All"}, body=pod)
        return True, ""
    except ApiError as e:
        return False, str(e)


def prove_matrix(kube, u: str) -> None:
    manager = kube.impersonating(f"system:serviceaccount:glr-{u}:gitlab-runner")
    for tenant, labels, want in MATRIX:
        ns = f"{tenant}-{u}"
        assert eventually(lambda: admitted(manager, ns, labels)[0] == want, 10), (tenant, labels, want)
        ok, message = admitted(manager, ns, labels)
        if not want:
            assert f"runnerkit: namespace {ns} takes GitLab Runner jobs only from" in message, message
    # cross-project both ways: web's job in infra's namespace and infra's job in web's
    assert not admitted(manager, f"infra-{u}", job("4211", "acme/web"))[0]
    assert not admitted(manager, f"web-{u}", job("77", "platform"))[0]
    # an admin (not the runner manager) is not judged by the policy
    assert admitted(kube, f"web-{u}", job("1", "elsewhere"))[0]
    assert admitted(kube, f"web-{u}", None)[0]


def test_apply_enforces_isolation_on_the_live_server_and_verify_proves_it(kube, kubeconfig, unique, tmp_path):
    u = unique
    path = tmp_path / "runnerkit.yaml"
    path.write_text(tenants_spec(u))
    try:
        first = run_cli("apply", path, "--kubeconfig", kubeconfig, "-o", "json")
        assert first.code == 0, first
        again = run_cli("apply", path, "--kubeconfig", kubeconfig, "-o", "json")
        assert again.code == 0 and '"writes": 0' in again.out, again
        prove_matrix(kube, u)
        checks = check_isolation(kube, read_spec(path))
        assert [(c.project, c.status) for c in checks] == [
            (f"web-{u}", ENFORCED), (f"infra-{u}", ENFORCED), (f"builds-{u}", ENFORCED)], checks
        run = run_cli("verify", path, "--kubeconfig", kubeconfig)
        assert run.code == 0, run
        assert f"+ web-{u} (namespace web-{u}): enforced" in run.out, run.out
        # a hand-deleted binding: verify says isolation is missing, and exits 1
        kube.delete({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
                     "metadata": {"name": f"runnerkit-iso-{u}-web-{u}-gitlab-isolation"}})
        run = run_cli("verify", path, "--kubeconfig", kubeconfig)
        assert run.code == 1 and f"x web-{u} (namespace web-{u}): missing" in run.out, run.out
    finally:
        run_cli("delete", path, "--delete-namespaces", "--kubeconfig", kubeconfig)


def test_a_refused_policy_grants_the_manager_nothing(kube, kubeconfig, unique, tmp_path, monkeypatch):
    u = unique
    path = tmp_path / "runnerkit.yaml"
    path.write_text(tenants_spec(u))
    monkeypatch.setattr(isolation, "allowed_expression", lambda p: "variables.projectId in [")  # not CEL
    try:
        run = run_cli("apply", path, "--kubeconfig", kubeconfig)
        assert run.code == 3, run
        lines = [line for line in run.err.splitlines() if line.strip()]
        assert len(lines) == 1 and "the runner manager got no new rights" in lines[0], run.err
        assert "Traceback" not in run.err
        spec = read_spec(path)
        managed = [o for o in render(spec) if o["kind"] in ("Role", "RoleBinding", "ServiceAccount", "Namespace")]
        assert managed
        for o in managed:  # nothing after the policy's wave was written
            assert kube.get(BY_KIND[o["kind"]], o["metadata"]["name"], o["metadata"].get("namespace")) is None, o
        manager = f"system:serviceaccount:glr-{u}:gitlab-runner"
        assert not kube.can(manager, "create", "pods", f"web-{u}")
    finally:
        monkeypatch.undo()
        run_cli("delete", path, "--delete-namespaces", "--kubeconfig", kubeconfig)


def test_the_chart_enforces_the_same_isolation(kube, kubeconfig, unique, tmp_path, make_namespace):
    from runnerkit.model import helmvalues
    from unit.model.test_chart import CHART, Helm

    u = unique
    helm = Helm("v37")
    release = make_namespace(f"rel-{u}")
    values = tmp_path / "values.yaml"
    values.write_text(helmvalues.to_yaml(helmvalues.loads(tenants_spec(u))))
    objects = render(validate.loads(tenants_spec(u)))
    try:
        helm.run("install", release, str(CHART), "-f", str(values), "--kubeconfig", kubeconfig,
                 "-n", release, "--wait")
        prove_matrix(kube, u)
    finally:
        helm.run("uninstall", release, "--kubeconfig", kubeconfig, "-n", release, check=False)
        for o in objects:
            if o["kind"] in ("Namespace", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
                             "ClusterRole", "ClusterRoleBinding"):
                kube.delete(o)
