"""Spec -> objects: exact shapes, labels, least privilege, and schema-valid manifests."""

import json

import pytest
import yaml

from runnerkit.model import validate
from runnerkit.model import spec
from runnerkit.cli.common import example_text
from runnerkit.desired import render
from runnerkit.model.render import to_json, to_yaml

HEAD = """apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata: {name: team}
runners:
  - {name: gl, type: gitlab, namespace: gitlab-runner, release: ci}
  - {name: gh, type: github, namespace: arc-runners}
"""


def objects(body: str) -> list[dict]:
    return render(validate.loads(HEAD + body))


def by(objs, kind, name, namespace=None):
    matches = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name
               and o["metadata"].get("namespace") == namespace]
    assert len(matches) == 1, (kind, name, namespace, [(o["kind"], o["metadata"]) for o in objs])
    return matches[0]


def test_project_objects_and_labels():
    objs = objects("""projects:
  - name: web
    runner: gl
    namespaceLabels: {pod-security.kubernetes.io/enforce: restricted}
    namespaceAnnotations: {owner: team-web}
    serviceAccountAnnotations: {iam.gke.io/gcp-service-account: web@p.iam.gserviceaccount.com}
    automountServiceAccountToken: false
    imagePullSecrets: [regcred]
    resourceQuota: {hard: {pods: "10"}}
    limitRange: {limits: [{type: Container, default: {cpu: 500m}}]}
    access:
      - preset: pod-reader
""")
    labels = {"app.kubernetes.io/managed-by": "runnerkit", "runnerkit.io/spec": "team", "runnerkit.io/project": "web"}
    ns = by(objs, "Namespace", "web")
    assert ns["metadata"] == {"name": "web", "labels": {"pod-security.kubernetes.io/enforce": "restricted", **labels},
                              "annotations": {"owner": "team-web"}}
    sa = by(objs, "ServiceAccount", "web-ci", "web")
    assert sa["automountServiceAccountToken"] is False
    assert sa["imagePullSecrets"] == [{"name": "regcred"}]
    assert sa["metadata"]["annotations"] == {"iam.gke.io/gcp-service-account": "web@p.iam.gserviceaccount.com"}
    assert by(objs, "ResourceQuota", "runnerkit", "web")["spec"] == {"hard": {"pods": "10"}}
    assert by(objs, "LimitRange", "runnerkit", "web")["spec"]["limits"][0]["type"] == "Container"
    role = by(objs, "Role", "runnerkit-web-pod-reader", "web")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]
    binding = by(objs, "RoleBinding", "runnerkit-web-pod-reader", "web")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "runnerkit-web-pod-reader"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "web-ci", "namespace": "web"}]
    assert all(o["metadata"]["labels"].items() >= labels.items() for o in objs)


def test_target_namespaces_get_a_role_and_binding_each_never_cluster_wide():
    objs = objects("""projects:
  - name: app
    runner: gh
    access:
      - preset: helm-deployer
        namespaces: [app-staging, app-prod]
""")
    for ns in ("app", "app-staging", "app-prod"):
        by(objs, "Role", "runnerkit-app-helm-deployer", ns)
        b = by(objs, "RoleBinding", "runnerkit-app-helm-deployer", ns)
        assert b["subjects"] == [{"kind": "ServiceAccount", "name": "app-ci", "namespace": "app"}]
    assert not [o for o in objs if o["kind"].startswith("Cluster")]
    assert not [o for o in objs if o["kind"] == "Namespace" and o["metadata"]["name"] != "app"]


def test_cluster_role_grants():
    objs = objects("""projects:
  - name: app
    runner: gh
    access:
      - clusterRole: build-service-user-role
      - preset: viewer
        namespaces: [shared]
      - name: nodes
        clusterWide: true
        rules: [{apiGroups: [""], resources: [nodes], verbs: [get]}]
      - clusterRole: cluster-admin
        clusterWide: true
        allowClusterAdmin: true
""")
    assert by(objs, "RoleBinding", "runnerkit-app-build-service-user-role", "app")["roleRef"]["kind"] == "ClusterRole"
    assert by(objs, "RoleBinding", "runnerkit-app-viewer", "shared")["roleRef"]["name"] == "view"
    assert by(objs, "ClusterRole", "runnerkit-team-app-nodes")["rules"][0]["resources"] == ["nodes"]
    assert by(objs, "ClusterRoleBinding", "runnerkit-team-app-nodes")["roleRef"]["name"] == "runnerkit-team-app-nodes"
    assert by(objs, "ClusterRoleBinding", "runnerkit-team-app-cluster-admin")["roleRef"]["name"] == "cluster-admin"
    assert not [o for o in objs if o["kind"] == "Role" and "build-service" in o["metadata"]["name"]]


def test_gitlab_projects_grant_the_runner_manager_in_their_namespace_only():
    objs = objects("""projects:
  - {name: a, runner: gl}
  - {name: b, runner: gh}
""")
    binding = by(objs, "RoleBinding", "runnerkit-gitlab-manager", "a")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "ci-gitlab-runner", "namespace": "gitlab-runner"}]
    assert by(objs, "Role", "runnerkit-gitlab-manager", "a")["rules"][0]["resources"] == ["pods"]
    assert not [o for o in objs if o["metadata"].get("namespace") == "b" and "gitlab" in o["metadata"]["name"]]


def test_apply_order_namespaces_first_bindings_after_roles():
    kinds = [o["kind"] for o in render(validate.loads(example_text()))]
    assert kinds[0] == "Namespace"
    assert max(i for i, k in enumerate(kinds) if k in ("Role", "ServiceAccount")) < min(
        i for i, k in enumerate(kinds) if k == "RoleBinding")


def test_yaml_and_json_outputs_round_trip():
    objs = render(validate.loads(example_text()))
    assert list(yaml.safe_load_all(to_yaml(objs))) == objs
    assert json.loads(to_json(objs)) == {"apiVersion": "v1", "kind": "List", "items": objs}


@pytest.mark.parametrize("version", ["1.30.0", "1.37.0"])
def test_rendered_example_is_schema_valid(version):
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="test extra not installed")
    for obj in render(validate.loads(example_text())):
        kubernetes_validate.validate(obj, version, strict=True)


def test_render_cli_example_and_file(cli_run, tmp_path):
    example = cli_run("render", "--example")
    assert example.code == 0 and "kind: Namespace" in example.out
    path = tmp_path / "runnerkit.yaml"
    path.write_text(example_text())
    as_json = cli_run("render", str(path), "-o", "json")
    assert as_json.code == 0 and json.loads(as_json.out)["items"] == list(yaml.safe_load_all(example.out))


def test_cli_bad_spec_exits_2_with_one_line_per_problem(cli_run, tmp_path):
    path = tmp_path / "runnerkit.yaml"
    path.write_text(HEAD + "projects:\n  - name: Bad_Name\n    runner: gl\n")
    result = cli_run("validate", str(path))
    assert result.code == 2 and result.out == ""
    assert result.err.strip().splitlines() == [
        f"error: {path}:8: projects[0].name 'Bad_Name' is not a valid project name: lowercase letters, "
        "digits and '-', at most 63"]


def test_init_writes_a_valid_example_and_refuses_to_overwrite(cli_run, tmp_path):
    path = tmp_path / "runnerkit.yaml"
    assert cli_run("init", str(path)).code == 0
    assert cli_run("validate", str(path)).code == 0
    again = cli_run("init", str(path))
    assert again.code == 2 and "--force" in again.err
