"""`runnerkit render --format helm-values`: runnerkit.yaml -> values for charts/runnerkit-tenants."""

from __future__ import annotations

import json

import yaml

from runnerkit.model import validate
from runnerkit.model import helmvalues, spec
from runnerkit.cli.common import example_text
from runnerkit.desired import render

SPEC = """apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata:
  name: team   # becomes specName
runners:
  - {name: gl, type: gitlab, namespace: gitlab-runner}
defaults:
  runner: gl
  namespace: "ci-{project}"
  namespaceLabels: {tier: ci}
projects:
  - name: web
    gitlab: {projectIds: [42], groups: [acme/web]}
    resourceQuota: {hard: {pods: 10}}
    access:
      - preset: helm-deployer
        namespaces: [web-prod]
      - {name: cm, rules: [{apiGroups: [""], resources: [configmaps], verbs: [get]}]}
"""


def as_document(values: dict) -> dict:
    """The way back: the chart's values as a runnerkit.yaml document."""
    return {"apiVersion": spec.API_VERSION, "kind": spec.KIND, "metadata": {"name": values["specName"]},
            **{key: values[key] for key in ("runners", "defaults", "projects")}}


def test_values_are_the_spec_as_written(cli_run, tmp_path):
    path = tmp_path / "runnerkit.yaml"
    path.write_text(SPEC)
    run = cli_run("render", "--format", "helm-values", path)
    assert run.code == 0, run
    values = yaml.safe_load(run.out)
    raw = yaml.safe_load(SPEC)
    assert values == {"specName": "team", "runners": raw["runners"], "defaults": raw["defaults"],
                      "projects": raw["projects"]}
    # not resolved: the chart applies defaults, {project} and presets itself
    assert values["defaults"]["namespace"] == "ci-{project}"
    assert values["projects"][0]["access"][0] == {"preset": "helm-deployer", "namespaces": ["web-prod"]}
    assert run.out.startswith(f"# Values for the runnerkit-tenants Helm chart from {path}: ")


def test_json_output_holds_the_same_values(cli_run, tmp_path):
    path = tmp_path / "runnerkit.yaml"
    path.write_text(SPEC)
    as_yaml = yaml.safe_load(cli_run("render", "--format", "helm-values", path).out)
    run = cli_run("render", "--format", "helm-values", path, "-o", "json")
    assert run.code == 0, run
    assert json.loads(run.out) == as_yaml


def test_values_lead_back_to_the_same_objects():
    for text in (SPEC, example_text()):
        values = helmvalues.loads(text)
        again = validate.loads(yaml.safe_dump(as_document(values)), "back.yaml")
        assert render(again) == render(validate.loads(text))


def test_example(cli_run):
    run = cli_run("render", "--format", "helm-values", "--example")
    assert run.code == 0, run
    values = yaml.safe_load(run.out)
    assert values["specName"] == "platform-ci"
    assert [p["name"] for p in values["projects"]] == ["web-app", "cicd", "mobile"]


def test_missing_optional_sections_become_empty():
    values = helmvalues.loads("apiVersion: runnerkit.io/v1alpha1\nkind: RunnerkitConfig\n"
                              "metadata: {name: bare}\nprojects: []\n")
    assert values == {"specName": "bare", "runners": [], "defaults": {}, "projects": []}


def test_an_invalid_spec_is_refused_like_validate_does(cli_run, tmp_path):
    path = tmp_path / "runnerkit.yaml"
    path.write_text(SPEC.replace("name: web\n", "name: Web_App\n"))
    run = cli_run("render", "--format", "helm-values", path)
    assert run.code == 2
    assert run.out == ""
    assert f"{path}:12: projects[0].name 'Web_App' is not a valid project name" in run.err


def test_a_missing_file(cli_run, tmp_path):
    run = cli_run("render", "--format", "helm-values", tmp_path / "nope.yaml")
    assert run.code == 2
    assert "nope.yaml: no such file; create one with `runnerkit init`" in run.err


def test_manifests_stay_the_default(cli_run):
    assert cli_run("render", "--example").out == cli_run("render", "--example", "--format", "manifests").out
    assert yaml.safe_load_all(cli_run("render", "--example").out)


def test_help_explains_the_format(cli_run):
    run = cli_run("render", "--help")
    assert run.code == 0
    assert "helm-values" in run.out and "runnerkit-tenants" in run.out
