"""ARC kubernetes mode, pure: the hook-template ConfigMap render emits, the runner values that mount
it, the patch that wires it into an existing scale set, and the CLI around them."""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import FIXTURES, run_cli
from runnerkit.errors import SpecError
from runnerkit.github import arc, hook_template
from runnerkit.github.runner import hook_template_patch
from runnerkit.desired import render
from runnerkit.model import validate as spec_mod

SPEC = """apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata: {name: arc}
runners: [{name: gh, type: github, namespace: arc-runners}]
projects:
  - name: mobile
    runner: gh
    automountServiceAccountToken: true
    imagePullSecrets: [regcred]
    github: {containerMode: kubernetes}
    access: [{preset: arc-kube-mode}]
  - name: plain
    runner: gh
    access: [{preset: arc-kube-mode}]
"""


def scale_set() -> dict:
    return next(d for d in yaml.safe_load_all((FIXTURES / "arc" / "scale-set-kube-mode.yaml").read_text())
                if d and d["kind"] == "AutoscalingRunnerSet")


def test_render_emits_one_template_configmap_per_kube_mode_project():
    objects = render(spec_mod.loads(SPEC))
    maps = [o for o in objects if o["kind"] == "ConfigMap"]
    assert [(m["metadata"]["namespace"], m["metadata"]["name"]) for m in maps] == [
        ("mobile", "runnerkit-mobile-hook-template")]
    assert maps[0]["metadata"]["labels"]["runnerkit.io/project"] == "mobile"
    template = yaml.safe_load(maps[0]["data"]["template.yaml"])
    assert template == {"spec": {"serviceAccountName": "mobile-ci", "automountServiceAccountToken": True,
                                 "imagePullSecrets": [{"name": "regcred"}]}}
    # ConfigMaps are written with the accounts, before the bindings.
    kinds = [o["kind"] for o in objects]
    assert kinds.index("ConfigMap") < kinds.index("RoleBinding")


def test_template_names_only_what_the_project_sets():
    project = spec_mod.loads(SPEC.replace("    automountServiceAccountToken: true\n    imagePullSecrets: [regcred]\n",
                                          "")).project("mobile")
    # Each key replaces the hook's own: no imagePullSecrets unless the project has some (the hook's
    # per-job registry secret would be dropped), no automount unless stated.
    assert hook_template.pod_template(project) == {"spec": {"serviceAccountName": "mobile-ci"}}
    assert hook_template.template_text(project) == '{"spec":{"serviceAccountName":"mobile-ci"}}'


def test_spec_rejects_an_unknown_container_mode():
    with pytest.raises(SpecError) as e:
        spec_mod.loads(SPEC.replace("containerMode: kubernetes", "containerMode: kube"))
    assert "github.containerMode must be one of default, dind, kubernetes, kubernetes-novolume, not 'kube'" \
        in str(e.value)


def test_runner_values_mount_the_template_into_the_runner_container():
    project = spec_mod.loads(SPEC).project("mobile")
    values = arc.runner_values(project, "kubernetes")
    spec = values["template"]["spec"]
    assert spec["serviceAccountName"] == "mobile-ci"
    (runner,) = spec["containers"]
    assert runner["name"] == "runner" and runner["image"] == "ghcr.io/actions/actions-runner:latest"
    assert runner["command"] == ["/home/runner/run.sh"]  # the list replaces the chart's default one
    assert runner["env"] == [{"name": "ACTIONS_RUNNER_CONTAINER_HOOK_TEMPLATE",
                              "value": "/home/runner/runnerkit-hook/template.yaml"}]
    assert runner["volumeMounts"] == [{"name": "runnerkit-hook-template", "mountPath": "/home/runner/runnerkit-hook",
                                       "readOnly": True}]
    assert spec["volumes"] == [{"name": "runnerkit-hook-template",
                                "configMap": {"name": "runnerkit-mobile-hook-template"}}]
    assert "containers" not in arc.runner_values(project, "default")["template"]["spec"]


def test_wiring_is_idempotent_and_keeps_the_chart_entries():
    project = spec_mod.loads(SPEC).project("mobile")
    live = scale_set()["spec"]["template"]["spec"]
    wired = hook_template.with_template(live, project)
    runner = wired["containers"][0]
    assert [e["name"] for e in runner["env"]] == ["ACTIONS_RUNNER_CONTAINER_HOOKS", "ACTIONS_RUNNER_POD_NAME",
                                                   "ACTIONS_RUNNER_REQUIRE_JOB_CONTAINER",
                                                   "ACTIONS_RUNNER_CONTAINER_HOOK_TEMPLATE"]
    assert [v["name"] for v in wired["volumes"]] == ["work", "runnerkit-hook-template"]
    assert hook_template.with_template({**live, **wired}, project) is None
    # The server fills in defaultMode: still the same volume, nothing to write.
    served = json.loads(json.dumps({**live, **wired}))
    served["volumes"][1]["configMap"]["defaultMode"] = 420
    assert hook_template.with_template(served, project) is None
    # A stale path is replaced, not duplicated.
    served["containers"][0]["env"][-1]["value"] = "/old/path"
    again = hook_template.with_template(served, project)
    assert [e["value"] for e in again["containers"][0]["env"] if e["name"] == hook_template.TEMPLATE_ENV] == [
        hook_template.TEMPLATE_PATH]


def test_patch_notes_a_kube_mode_scale_set_whose_project_has_no_template():
    s = spec_mod.loads(SPEC)
    from runnerkit.github.arc import RUNNER_KINDS

    wiring, note = hook_template_patch(scale_set(), RUNNER_KINDS["autoscalingrunnerset"], s.project("plain"))
    assert wiring is None and "github.containerMode: kubernetes" in note and "default" in note
    wiring, note = hook_template_patch(scale_set(), RUNNER_KINDS["autoscalingrunnerset"], s.project("mobile"))
    assert wiring and "runnerkit-mobile-hook-template" in note
    wiring, note = hook_template_patch(scale_set(), RUNNER_KINDS["deployment"], s.project("mobile"))
    assert (wiring, note) == (None, "")


def test_cli_runner_values_takes_the_mode_from_the_spec_and_warns_without_it(tmp_path):
    path = tmp_path / "runnerkit.yaml"
    path.write_text(SPEC)
    r = run_cli("github", "runner-values", "mobile", str(path), "-o", "json")
    assert r.code == 0, r
    values = json.loads(r.out)
    assert values["containerMode"]["type"] == "kubernetes"
    assert values["template"]["spec"]["volumes"][0]["configMap"]["name"] == "runnerkit-mobile-hook-template"
    r = run_cli("github", "runner-values", "plain", str(path), "--container-mode", "kubernetes")
    assert r.code == 0, r
    assert "has no github.containerMode: kubernetes" in r.err
    assert "# The spec does not render that ConfigMap yet" in r.out
