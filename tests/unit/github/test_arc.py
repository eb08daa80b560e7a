"""Pure ARC wiring: scale-set values, the ServiceAccount patch, notes, and the CLI that prints values."""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import FIXTURES, run_cli
from runnerkit.model import validate
from runnerkit.errors import InputError
from runnerkit.github import arc
from runnerkit.github.runner import find_workload

ARC = FIXTURES / "arc"


def load_spec(runner_ns: str = "arc-runners", project_ns: str = "mobile", access: str = "[{preset: arc-kube-mode}]"):
    return validate.loads(f"""apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata: {{name: gh}}
runners:
  - {{name: arc, type: github, namespace: {runner_ns}, release: arc-runner-set}}
  - {{name: gl, type: gitlab, namespace: gitlab-runner}}
projects:
  - name: mobile
    runner: arc
    namespace: {project_ns}
    github: {{repository: example-org/mobile, environment: production}}
    access: {access}
  - {{name: web, runner: gl}}
""", "gh.yaml")


def fixture_doc(name: str, kind: str) -> dict:
    return next(d for d in yaml.safe_load_all((ARC / name).read_text()) if d and d["kind"] == kind)


def test_values_name_the_sa_and_move_the_scale_set_into_the_project_namespace():
    project = load_spec().project("mobile")
    assert arc.runner_values(project) == {"namespaceOverride": "mobile",
                                          "template": {"spec": {"serviceAccountName": "mobile-ci"}}}


def test_values_without_override_when_installed_in_the_project_namespace():
    project = load_spec(runner_ns="mobile").project("mobile")
    assert arc.runner_values(project) == {"template": {"spec": {"serviceAccountName": "mobile-ci"}}}


def test_kube_mode_values_carry_the_work_volume_claim():
    project = load_spec().project("mobile")
    values = arc.runner_values(project, "kubernetes", "standard", "2Gi")
    assert values["containerMode"] == {"type": "kubernetes", "kubernetesModeWorkVolumeClaim": {
        "accessModes": ["ReadWriteOnce"], "storageClassName": "standard",
        "resources": {"requests": {"storage": "2Gi"}}}}
    # The same claim shape the chart's own kube-mode fixture values use.
    fixture = yaml.safe_load((ARC / "values-kube-mode.yaml").read_text())["containerMode"]
    assert set(values["containerMode"]["kubernetesModeWorkVolumeClaim"]) == set(fixture["kubernetesModeWorkVolumeClaim"])
    assert "storageClassName" not in arc.runner_values(project, "kubernetes")["containerMode"][
        "kubernetesModeWorkVolumeClaim"]
    assert arc.runner_values(project, "dind")["containerMode"] == {"type": "dind"}


def test_values_yaml_is_the_values_plus_comments():
    project = load_spec().project("mobile")
    text = arc.runner_values_yaml(project, "kubernetes")
    assert yaml.safe_load(text) == arc.runner_values(project, "kubernetes")
    assert "helm upgrade --install arc-runner-set" in text and "--namespace arc-runners" in text
    assert "default StorageClass" in text and "grants what it needs" in text
    assert all(len(line) <= 110 for line in text.splitlines())


def test_kube_mode_rights_are_checked_against_the_grants():
    assert arc.missing_kube_mode_rights(load_spec().project("mobile")) == []
    lacking = load_spec(access="[{preset: pod-reader}]").project("mobile")
    missing = arc.missing_kube_mode_rights(lacking)
    assert "create pods" in missing and "create pods/exec" in missing and "get pods" not in missing
    own_rules = load_spec(access="""[{rules: [
        {apiGroups: [""], resources: [pods, secrets], verbs: [get, list, create, delete]},
        {apiGroups: [""], resources: [pods/exec], verbs: [get, create]},
        {apiGroups: [""], resources: [pods/log], verbs: [get, list, watch]},
        {apiGroups: [batch], resources: [jobs], verbs: [get, list, create, delete]}]}]""").project("mobile")
    assert arc.missing_kube_mode_rights(own_rules) == []


def test_patch_is_minimal_and_idempotent_for_every_fixture_kind():
    cases = [("scale-set-default.yaml", "AutoscalingRunnerSet", "arc-runner-set-gha-rs-no-permission"),
             ("scale-set-kube-mode.yaml", "AutoscalingRunnerSet", "arc-runner-set-gha-rs-kube-mode"),
             ("scale-set-custom-sa.yaml", "AutoscalingRunnerSet", "web-deployer"),
             ("runnerdeployment.yaml", "RunnerDeployment", "default"),
             ("runnerdeployment-with-sa.yaml", "RunnerDeployment", "my-service-account"),
             ("plain-deployment.yaml", "Deployment", "default")]
    for name, kind, current in cases:
        obj = fixture_doc(name, kind)
        assert arc.service_account_of(obj) == current, name
        patch = arc.service_account_patch(obj, "mobile-ci")
        assert patch == {"spec": {"template": {"spec": {"serviceAccountName": "mobile-ci"}}}}, name
        obj["spec"]["template"]["spec"]["serviceAccountName"] = "mobile-ci"
        assert arc.service_account_patch(obj, "mobile-ci") is None, name


def test_patch_also_fixes_the_deprecated_alias():
    obj = fixture_doc("plain-deployment.yaml", "Deployment")
    obj["spec"]["template"]["spec"].update(serviceAccountName="old", serviceAccount="old")
    assert arc.service_account_patch(obj, "new") == {
        "spec": {"template": {"spec": {"serviceAccountName": "new", "serviceAccount": "new"}}}}


def test_notes_flag_helm_kube_mode_and_automount():
    lacking = load_spec(access="[{preset: pod-reader}]").project("mobile")
    kube_mode = fixture_doc("scale-set-kube-mode.yaml", "AutoscalingRunnerSet")
    assert arc.runs_kube_mode(kube_mode)
    assert not arc.runs_kube_mode(fixture_doc("scale-set-default.yaml", "AutoscalingRunnerSet"))
    notes = " ".join(arc.notes_for(kube_mode, arc.RUNNER_KINDS["autoscalingrunnerset"], lacking))
    assert "managed by Helm" in notes and "runner-values mobile" in notes
    assert "preset: arc-kube-mode" in notes
    deployment = fixture_doc("plain-deployment.yaml", "Deployment")
    deployment["spec"]["template"]["spec"]["automountServiceAccountToken"] = False
    notes = " ".join(arc.notes_for(deployment, arc.RUNNER_KINDS["deployment"], lacking))
    assert "automountServiceAccountToken: false" in notes and "Helm" not in notes
    summerwind = fixture_doc("runnerdeployment.yaml", "RunnerDeployment")
    summerwind["spec"]["template"]["spec"]["containerMode"] = "kubernetes"
    assert arc.runs_kube_mode(summerwind)


def test_namespace_problem_explains_both_namespaces():
    project = load_spec().project("mobile")
    assert arc.namespace_problem("mobile", project, "x") is None
    text = arc.namespace_problem("arc-runners", project, "autoscalingrunnerset/arc-runner-set")
    assert "namespace arc-runners" in text and "lives in namespace mobile" in text
    assert "namespaceOverride: mobile" in text and "its own namespace" in text


class FakeClient:
    """Discovery without the ARC CRDs; records requests."""

    def __init__(self, served: dict[str, set[str]], objects: dict[tuple[str, str], dict]):
        self.served, self.objects, self.requests = served, objects, []

    def served_resources(self, api_version):
        self.requests.append(("GET", api_version))
        return self.served.get(api_version)

    def get(self, kind, name, namespace=None):
        self.requests.append(("GET", kind.object_path(name, namespace)))
        return self.objects.get((kind.kind, name))


def test_absent_crd_is_a_clear_error_before_any_object_request():
    client = FakeClient({"apps/v1": {"deployments"}}, {})
    with pytest.raises(InputError) as e:
        find_workload(client, "autoscalingrunnerset", "arc-runner-set", "mobile")
    assert "CRD autoscalingrunnersets.actions.github.com is not installed" in str(e.value)
    assert "gha-runner-scale-set-controller" in str(e.value)
    assert client.requests == [("GET", "actions.github.com/v1alpha1")]
    # Group served but without the kind (e.g. another ARC CRD only): still absent.
    client = FakeClient({"actions.summerwind.dev/v1alpha1": {"runners"}}, {})
    with pytest.raises(InputError, match="runnerdeployments.actions.summerwind.dev is not installed"):
        find_workload(client, "runnerdeployment", "x", "mobile")


def test_autodetect_names_what_was_looked_for():
    deployment = fixture_doc("plain-deployment.yaml", "Deployment")
    client = FakeClient({"apps/v1": {"deployments"}}, {("Deployment", "actions-runner-deployment"): deployment})
    kind, obj = find_workload(client, None, "actions-runner-deployment", "mobile")
    assert kind.name == "deployment" and obj is deployment
    with pytest.raises(InputError) as e:
        find_workload(client, None, "nope", "mobile")
    assert "looked for Deployment" in str(e.value) and "not installed: autoscalingrunnersets" in str(e.value)


def test_runner_values_cli(tmp_path):
    path = tmp_path / "gh.yaml"
    text = """apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata: {name: gh}
runners:
  - {name: arc, type: github, namespace: arc-runners, release: arc-runner-set}
  - {name: gl, type: gitlab, namespace: gitlab-runner}
projects:
  - {name: mobile, runner: arc, access: [{preset: pod-reader}]}
  - {name: web, runner: gl}
"""
    path.write_text(text)
    r = run_cli("github", "runner-values", "mobile", path, "-o", "json")
    assert r.code == 0 and json.loads(r.out)["template"]["spec"]["serviceAccountName"] == "mobile-ci"
    r = run_cli("github", "runner-values", "mobile", path, "--container-mode", "kubernetes")
    assert r.code == 0 and "warning:" in r.err and "arc-kube-mode" in r.err
    assert yaml.safe_load(r.out)["containerMode"]["type"] == "kubernetes"
    r = run_cli("github", "runner-values", "web", path)
    assert r.code == 2 and "not a github runner" in r.err
