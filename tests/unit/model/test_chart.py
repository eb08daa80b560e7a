"""charts/runnerkit-tenants with real Helm 3 and Helm 4: lint, parity with `runnerkit render`, schemas.

Also home of the helpers the other test_chart_* files import (helm binaries, template, comparison).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from conftest import ROOT
from runnerkit.model import validate
from runnerkit.model import helmvalues, spec
from runnerkit.cli.common import example_text
from runnerkit.gitlab.snippets import gitlab_ci_snippet
from runnerkit.model.presets import GITLAB_MANAGER_RULES, PRESETS
from runnerkit.desired import render

CHART = ROOT / "charts" / "runnerkit-tenants"
FETCH = ROOT / "scripts" / "fetch-helm-kubectl"
CACHE = Path(os.environ.get("RUNNERKIT_CACHE") or Path.home() / ".cache" / "runnerkit")
HELM_VERSIONS = ("v32", "v37")  # Helm 3.17 + kubectl 1.32, Helm 4.x + kubectl 1.37
POLICY_APIS = ("admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy",
               "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding")
CHART_VERSION = yaml.safe_load((CHART / "Chart.yaml").read_text())["version"]


def tool(version: str, name: str) -> Path:
    """A cached helm/kubectl binary, fetched by scripts/fetch-helm-kubectl on first use."""
    path = CACHE / "tools" / version / name
    if not os.access(path, os.X_OK):
        run = subprocess.run([str(FETCH), version], capture_output=True, text=True, timeout=300)
        if run.returncode != 0:  # a tool that cannot be fetched is a failure, never a skip
            pytest.fail(f"scripts/fetch-helm-kubectl {version} failed: {run.stderr[-2000:]}")
    assert os.access(path, os.X_OK), path
    return path


class Helm:
    def __init__(self, version: str):
        self.version = version
        self.path = tool(version, "helm")

    def run(self, *args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
        env = {**os.environ, "HELM_CACHE_HOME": str(CACHE / "helm" / "cache"),
               "HELM_CONFIG_HOME": str(CACHE / "helm" / "config"),
               "HELM_DATA_HOME": str(CACHE / "helm" / "data")}
        run = subprocess.run([str(self.path), *args], capture_output=True, text=True, timeout=120,
                             env=env, **kw)
        if check and run.returncode != 0:
            raise AssertionError(f"helm {self.version} {' '.join(args)} exited {run.returncode}:\n"
                                 f"{run.stdout[-2000:]}\n{run.stderr[-3000:]}")
        return run

    def template_run(self, values: dict, tmp_path: Path, *extra: str, release: str = "tenants",
                     policy: bool = True, check: bool = True) -> subprocess.CompletedProcess:
        values_file = tmp_path / f"values-{self.version}.yaml"
        values_file.write_text(yaml.safe_dump(values, sort_keys=False))
        args = ["template", release, str(CHART), "-f", str(values_file), *extra]
        if policy:
            args += [f"--api-versions={api}" for api in POLICY_APIS]
        return self.run(*args, check=check)

    def template(self, values: dict, tmp_path: Path, *extra: str, **kw) -> list[dict]:
        return [d for d in yaml.safe_load_all(self.template_run(values, tmp_path, *extra, **kw).stdout) if d]


@pytest.fixture(scope="session", params=HELM_VERSIONS)
def helm(request) -> Helm:
    return Helm(request.param)


def without_helm_metadata(obj: dict, release: str) -> dict:
    """The object minus what Helm adds, and only when it is exactly what the chart adds."""
    obj = copy.deepcopy(obj)
    meta = obj["metadata"]
    labels = meta.get("labels", {})
    for key, value in (("helm.sh/chart", f"runnerkit-tenants-{CHART_VERSION}"),
                       ("app.kubernetes.io/instance", release)):
        if labels.get(key) == value:
            del labels[key]
    annotations = meta.get("annotations", {})
    if obj["kind"] == "Namespace" and annotations.get("helm.sh/resource-policy") == "keep":
        del annotations["helm.sh/resource-policy"]
    if obj["kind"] in POLICY_HOOK_WEIGHTS and annotations == policy_hook(obj["kind"]):
        annotations.clear()
    if "annotations" in meta and not annotations:
        del meta["annotations"]
    return obj


# The isolation policy and binding are pre-install/pre-upgrade hooks, so they exist before any grant.
POLICY_HOOK_WEIGHTS = {"ValidatingAdmissionPolicy": "-10", "ValidatingAdmissionPolicyBinding": "-9"}


def policy_hook(kind: str) -> dict:
    return {"helm.sh/hook": "pre-install,pre-upgrade", "helm.sh/hook-weight": POLICY_HOOK_WEIGHTS[kind],
            "helm.sh/hook-delete-policy": "before-hook-creation"}


def keyed(objects: list[dict]) -> dict:
    out = {}
    for o in objects:
        key = (o["apiVersion"], o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"])
        assert key not in out, f"{key} rendered twice"
        out[key] = json.loads(json.dumps(o))  # plain dicts/lists/str/int for a clean comparison
    return out


def values_for(text: str) -> dict:
    return helmvalues.loads(text, "test.yaml")


# -- specs the chart must render exactly like runnerkit ----------------------------------------

EVERYTHING = """apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata: {name: parity}
runners:
  - {name: gl, type: gitlab, namespace: gitlab-runner, release: ci}
  - {name: blue, type: gitlab, namespace: runners, release: gitlab-runner-blue}
  - {name: shared, type: gitlab, namespace: runners, release: x, fullnameOverride: shared-runner,
     serviceAccount: manager.sa}
  - {name: gh, type: github, namespace: arc-runners}
defaults:
  runner: gl
  namespace: "ci-{project}"
  serviceAccount: "{project}.jobs"
  namespaceLabels: {team: platform, tier: ci}
  namespaceAnnotations: {owner: platform}
  imagePullSecrets: [default-pull]
  limitRange:
    limits:
      - {type: Container, default: {cpu: 500m, memory: 256Mi}, defaultRequest: {cpu: 100m}}
  access: [{preset: pod-reader}]
projects:
  - name: web
    namespaceLabels: {tier: web, "true": "yes"}
    serviceAccountAnnotations: {iam.gke.io/gcp-service-account: web@p.iam.gserviceaccount.com}
    automountServiceAccountToken: false
    resourceQuota: {hard: {pods: 20, requests.cpu: "2", requests.memory: 8Gi}}
    gitlab:
      projectIds: [12345678, 7]
      groups: [acme, acme/platform/tools, /acme.io/web-team/, "-odd_", "acme/.hidden-",
               "a/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-tail",
               "-ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"]
      tags: [k8s, "docker"]
    access:
      - preset: helm-deployer
        namespaces: [web-prod, ci-web, web-prod]
      - preset: viewer
      - clusterRole: edit
        namespaces: [web-staging]
      - {name: nodes-read, clusterWide: true, rules: [{apiGroups: [""], resources: [nodes], verbs: [get, list]}]}
      - {clusterRole: view, clusterWide: true, name: view-all}
      - rules: [{apiGroups: [], resources: [pods], resourceNames: [], verbs: [get]}]
      - {name: wild, allowWildcards: true, rules: [{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}]}
      - {clusterRole: cluster-admin, allowClusterAdmin: true, name: admin}
  - name: "1234"
    runner: blue
    namespace: blue-team
    imagePullSecrets: []
    access: []
    limitRange: null
    gitlab: {groups: [blue/green]}
  - name: green
    runner: shared
    automountServiceAccountToken: true
    gitlab: {tags: [only-tags-no-isolation]}
  - name: mobile
    runner: gh
    automountServiceAccountToken: true
    github: {repository: example-org/mobile, environment: prod, containerMode: kubernetes}
    access:
      - preset: arc-kube-mode
      - {preset: kpack-builder, clusterWide: true}
  - {name: deployer, runner: gh, namespace: default, allowDefaultNamespace: true,
     serviceAccount: deployer, limitRange: null}
  - {name: checker, runner: gh, namespace: default, allowDefaultNamespace: true,
     serviceAccount: checker, limitRange: null,
     access: [{preset: viewer}]}
  - {name: borrower, runner: gh, namespace: ci-mobile, manageNamespace: false, limitRange: null}
"""

MINIMAL = """apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata: {name: minimal}
runners: [{name: gh, type: github, namespace: arc}]
projects:
  - {name: only, runner: gh}
"""

NO_PROJECTS = """apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata: {name: empty}
runners: [{name: gh, type: github, namespace: arc}]
projects: []
"""

PARITY_SPECS = {"example": example_text(), "everything": EVERYTHING, "minimal": MINIMAL,
                "no-projects": NO_PROJECTS}


@pytest.mark.parametrize("name", PARITY_SPECS)
def test_helm_template_renders_exactly_the_objects_runnerkit_renders(helm, tmp_path, name):
    text = PARITY_SPECS[name]
    want = keyed(render(validate.loads(text)))
    got = keyed([without_helm_metadata(o, "tenants") for o in helm.template(values_for(text), tmp_path)])
    assert sorted(got) == sorted(want)
    for key in want:
        assert got[key] == want[key], key


def test_parity_covers_every_kind_runnerkit_renders(tmp_path):
    # So "the same objects" is not vacuous: the specs above exercise every kind render produces.
    kinds = {o["kind"] for text in PARITY_SPECS.values() for o in render(validate.loads(text))}
    from runnerkit.model.kinds import KINDS
    assert kinds == {k.kind for k in KINDS}


def test_helm_labels_are_added_and_runnerkit_keeps_managed_by(helm, tmp_path):
    objects = helm.template(values_for(example_text()), tmp_path, release="rel-a")
    assert objects
    for o in objects:
        labels = o["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "runnerkit"
        assert labels["runnerkit.io/spec"] == "platform-ci"
        assert labels["helm.sh/chart"] == f"runnerkit-tenants-{CHART_VERSION}"
        assert labels["app.kubernetes.io/instance"] == "rel-a"
        annotations = o["metadata"].get("annotations", {})
        assert ("helm.sh/resource-policy" in annotations) == (o["kind"] == "Namespace")
        if o["kind"] in POLICY_HOOK_WEIGHTS:  # written, and accepted, before the grants they guard
            assert annotations == policy_hook(o["kind"])


def test_namespaces_are_kept_unless_values_say_otherwise(helm, tmp_path):
    values = values_for(example_text())
    kept = [o for o in helm.template(values, tmp_path) if o["kind"] == "Namespace"]
    assert len(kept) == 3
    assert all(o["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep" for o in kept)
    dropped = [o for o in helm.template({**values, "keepNamespaces": False}, tmp_path)
               if o["kind"] == "Namespace"]
    assert len(dropped) == 3
    assert all("helm.sh/resource-policy" not in o["metadata"].get("annotations", {}) for o in dropped)


def test_isolation_policy_only_where_the_cluster_serves_it(helm, tmp_path):
    values = values_for(example_text())
    served = {o["kind"] for o in helm.template(values, tmp_path, policy=True)}
    unserved = {o["kind"] for o in helm.template(values, tmp_path, policy=False)}
    assert {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} <= served
    assert served - unserved == {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}


def test_spec_name_defaults_to_the_release_name(helm, tmp_path):
    values = {**values_for(MINIMAL), "specName": ""}
    objects = helm.template(values, tmp_path, release="my-tenants")
    assert {o["metadata"]["labels"]["runnerkit.io/spec"] for o in objects} == {"my-tenants"}


def test_chart_presets_equal_runnerkit_presets():
    catalog = yaml.safe_load((CHART / "files" / "presets.yaml").read_text())
    assert set(catalog["presets"]) == set(PRESETS)
    for name, preset in PRESETS.items():
        entry = catalog["presets"][name]
        assert entry.get("rules", []) == [dict(r) for r in preset.rules], name
        assert entry.get("clusterRole") == preset.cluster_role, name
        assert set(entry) <= {"rules", "clusterRole"}
    assert catalog["gitlabManagerRules"] == [dict(r) for r in GITLAB_MANAGER_RULES]
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["definitions"]["grant"]["properties"]["preset"]["enum"] == list(PRESETS)


@pytest.mark.parametrize("values", ["chart defaults", "example"])
def test_helm_lint_strict_passes(helm, tmp_path, values):
    args = ["lint", "--strict", str(CHART)]
    if values == "example":
        path = tmp_path / "values.yaml"
        path.write_text(helmvalues.to_yaml(values_for(example_text())))
        args += ["-f", str(path)]
    run = helm.run(*args)
    assert "0 chart(s) failed" in run.stdout, run.stdout


@pytest.mark.parametrize("kube_version", ["1.30.0", kubernetes_validate.latest_version()])
@pytest.mark.parametrize("name", ["example", "everything"])
def test_rendered_objects_pass_kubernetes_schemas_strictly(tmp_path, kube_version, name):
    objects = Helm("v37").template(values_for(PARITY_SPECS[name]), tmp_path)
    assert objects
    for obj in objects:
        kubernetes_validate.validate(obj, kube_version, strict=True)


def test_kubernetes_validate_cli_accepts_the_rendered_file(tmp_path):
    # The command users run in their own pipelines, on the file helm writes.
    out = Helm("v32").template_run(values_for(EVERYTHING), tmp_path).stdout
    (tmp_path / "rendered.yaml").write_text(out)
    for version in ("1.30.0", kubernetes_validate.latest_version()):
        run = subprocess.run(["kubernetes-validate", "--strict", "-k", version, "--quiet",
                              str(tmp_path / "rendered.yaml")], capture_output=True, text=True)
        assert run.returncode == 0, run.stdout + run.stderr


def test_converted_values_validate_against_the_chart_schema(tmp_path):
    values = tmp_path / "values.json"
    values.write_text(json.dumps(values_for(EVERYTHING)))
    run = subprocess.run(["check-jsonschema", "--schemafile", str(CHART / "values.schema.json"),
                          str(values)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def notes(values: dict, tmp_path: Path) -> str:
    # Helm 4 renders NOTES in a client-only dry run; Helm 3 needs a cluster (see test_chart_e2e.py).
    path = tmp_path / "notes-values.yaml"
    path.write_text(yaml.safe_dump(values))
    out = Helm("v37").run("install", "tenants", str(CHART), "-f", str(path), "--dry-run=client").stdout
    return out.split("NOTES:\n", 1)[1]


def test_notes_give_each_gitlab_project_its_gitlab_ci_variables(tmp_path):
    s = validate.loads(EVERYTHING)
    text = notes(values_for(EVERYTHING), tmp_path)
    blocks = text.split("\n\n")
    for project in s.projects:
        if project.runner.type != "gitlab":
            continue
        snippet = gitlab_ci_snippet(s, project)
        block = next(b for b in blocks if f"jobs of project {project.name} run in" in b)
        assert yaml.safe_load(block) == yaml.safe_load(snippet), block
        assert block.splitlines()[0] == snippet.splitlines()[0]
    assert "GitHub project mobile (example-org/mobile)" in text
    assert "ServiceAccount mobile.jobs in namespace ci-mobile" in text
    assert "WARNING: this cluster does not serve ValidatingAdmissionPolicy" in text
    assert "NOT enforced for web, 1234:" in text  # green has no projectIds/groups: nothing to isolate
    assert "keeps the project namespaces" in text


def test_notes_say_when_namespaces_go_with_the_release(tmp_path):
    text = notes({**values_for(MINIMAL), "keepNamespaces": False}, tmp_path)
    assert "DELETES the project namespaces" in text
    assert "WARNING" not in text  # no GitLab project asks for isolation


def test_kube_version_range_admits_1_20_and_later(helm, tmp_path):
    values = values_for(MINIMAL)
    for version in ("1.20.2", "1.30.0", "1.37.0", "1.28.3-eks-4f4795d"):
        assert helm.template(values, tmp_path, f"--kube-version={version}")
    run = helm.template_run(values, tmp_path, "--kube-version=1.19.16", check=False)
    assert run.returncode != 0
    assert "requires kubeVersion: >=1.20.0-0" in run.stderr, run.stderr
