"""ARC kubernetes mode on the real API server: job pods created the way the container hook creates
them (its pod spec merged with runnerkit's hook template, sent with the runner pod's token) run as
the project's ServiceAccount; another project's account cannot be named."""

from __future__ import annotations

import copy
import os
import subprocess
import time

import pytest
import yaml

from conftest import CACHE, FIXTURES, admin_cluster, eventually, write_kubeconfig
from runnerkit.errors import ApiError
from runnerkit.github import hook_template
from runnerkit.github.runner import patch_runner
from runnerkit.cli.files import read_spec
from runnerkit.cluster.client import connect
from runnerkit.model.kinds import BY_KIND
from e2e.test_github_patch_runner import BY_KIND as RUNNER_KIND, arc_crds  # noqa: F401 (fixture)

pytestmark = pytest.mark.e2e


def spec_text(u: str) -> str:
    return f"""apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata: {{name: rk-hook-{u}}}
runners: [{{name: arc, type: github, namespace: rkhook-{u}, release: arc-runner-set}}]
projects:
  - name: web
    runner: arc
    namespace: rkhook-{u}
    serviceAccount: web-ci
    github: {{containerMode: kubernetes}}
    access: [{{preset: arc-kube-mode}}, {{preset: helm-deployer}}]
  - name: other
    runner: arc
    namespace: rkhook-other-{u}
    serviceAccount: other-ci
    access: [{{preset: helm-deployer}}]
"""


def merge_pod_spec(base: dict, extension: dict) -> None:
    """The hook's mergePodSpecWithOptions (packages/k8s/src/k8s/utils.ts): containers not named
    `$...` and volumes are appended, every other key replaces the hook's."""
    for key, value in extension.items():
        if key == "containers":
            base["containers"] += [c for c in value if not c.get("name", "").startswith("$")]
        elif key == "volumes" and value:
            base["volumes"] = (base.get("volumes") or []) + value
        else:
            base[key] = value


def hook_job_pod(runner_pod: str, extension: dict | None) -> dict:
    """createPod's body for a `container:` job (restartPolicy, work claim, runner's node)."""
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": f"{runner_pod}-workflow", "labels": {"runner-pod": runner_pod}, "annotations": {}},
           "spec": {"containers": [{"name": "job", "image": "alpine/helm:3.17.2", "command": ["tail"],
                                    "args": ["-f", "/dev/null"]}],
                    "restartPolicy": "Never", "nodeName": "node-of-the-runner",
                    "volumes": [{"name": "work", "persistentVolumeClaim": {"claimName": f"{runner_pod}-work"}}]}}
    if extension and extension.get("spec"):
        merge_pod_spec(pod["spec"], copy.deepcopy(extension["spec"]))
    return pod


def hook_step_job(runner_pod: str, extension: dict | None) -> dict:
    """createJob's body for a container step (the Job controller creates its pod)."""
    template = {"metadata": {"labels": {}, "annotations": {}},
                "spec": {"containers": [{"name": "step", "image": "alpine:3.20", "command": ["true"]}],
                         "restartPolicy": "Never", "nodeName": "node-of-the-runner"}}
    if extension and extension.get("spec"):
        merge_pod_spec(template["spec"], copy.deepcopy(extension["spec"]))
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": f"{runner_pod}-step", "labels": {"runner-pod": runner_pod}},
            "spec": {"backoffLimit": 0, "template": template}}


@pytest.fixture
def kube_mode(kube, kubeconfig, provision, unique, tmp_path, arc_crds):  # noqa: F811
    path = provision(spec_text(unique))
    project = read_spec(path).project("web")
    ns = project.namespace
    # The runner pod's identity: the scale set's template names web-ci (runner-values/patch-runner).
    token = kube.token_request(ns, "web-ci", 600)["token"]
    server, ca = admin_cluster(kubeconfig)
    runner_config = write_kubeconfig(tmp_path / "runner.kubeconfig", server, ca, {"token": token}, ns)
    return project, ns, connect(str(runner_config)), runner_config


def test_apply_renders_the_template_and_patch_runner_mounts_it_once(kube, kube_mode):
    project, ns, _, _ = kube_mode
    cm = kube.get(BY_KIND["ConfigMap"], "runnerkit-web-hook-template", ns)
    assert yaml.safe_load(cm["data"]["template.yaml"]) == {"spec": {"serviceAccountName": "web-ci"}}

    doc = next(d for d in yaml.safe_load_all((FIXTURES / "arc" / "scale-set-kube-mode.yaml").read_text())
               if d and d["kind"] == "AutoscalingRunnerSet")
    doc["metadata"]["namespace"] = ns
    ars = RUNNER_KIND["AutoscalingRunnerSet"].kind
    kube.request("POST", ars.collection_path(ns), body=doc)
    first = patch_runner(kube, project, "arc-runner-set", ns, "autoscalingrunnerset")
    assert first.changed and first.hook_template
    spec = kube.get(ars, "arc-runner-set", ns)["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == "web-ci"
    runner = next(c for c in spec["containers"] if c["name"] == "runner")
    env = {e["name"]: e.get("value") for e in runner["env"]}
    assert env[hook_template.TEMPLATE_ENV] == "/home/runner/runnerkit-hook/template.yaml"
    assert env["ACTIONS_RUNNER_CONTAINER_HOOKS"] == "/home/runner/k8s/index.js"  # the chart's env kept
    assert {"name": "work", "mountPath": "/home/runner/_work"} in runner["volumeMounts"]
    assert {"name": "runnerkit-hook-template", "mountPath": "/home/runner/runnerkit-hook",
            "readOnly": True} in runner["volumeMounts"]
    assert {"name": "runnerkit-hook-template", "configMap": {"name": "runnerkit-web-hook-template"}} in spec["volumes"]
    assert any(v["name"] == "work" for v in spec["volumes"])  # the work claim is still there

    sent = len(kube.requests)
    second = patch_runner(kube, project, "arc-runner-set", ns, "autoscalingrunnerset")
    assert not second.changed and not second.hook_template
    assert {m for m, _ in kube.requests[sent:]} == {"GET"}


def test_job_pod_created_as_the_hook_does_runs_as_the_project_account(kube, kube_mode):
    _, ns, runner, _ = kube_mode
    cm = kube.get(BY_KIND["ConfigMap"], "runnerkit-web-hook-template", ns)
    template = yaml.safe_load(cm["data"]["template.yaml"])

    # Without the template the hook's pod names no account: the server gives it `default`.
    assert eventually(lambda: _created(runner, ns, hook_job_pod("bare", None)) is not None, 10)
    bare = kube.request("GET", f"/api/v1/namespaces/{ns}/pods/bare-workflow")
    assert bare["spec"]["serviceAccountName"] == "default"

    pod = runner.request("POST", f"/api/v1/namespaces/{ns}/pods", body=hook_job_pod("runner-x1", template))
    assert pod["spec"]["serviceAccountName"] == "web-ci"
    assert pod["spec"]["volumes"][0] == {"name": "work", "persistentVolumeClaim": {"claimName": "runner-x1-work"}}
    # The admission plugin mounts web-ci's token: that is the identity `kubectl`/`helm` in the job use.
    mounted = [v for v in pod["spec"]["volumes"] if "projected" in v]
    assert mounted and any("serviceAccountToken" in s for s in mounted[0]["projected"]["sources"])

    # Container steps: the hook's Job carries the same template; the Job controller's pod runs as web-ci.
    job = runner.request("POST", f"/apis/batch/v1/namespaces/{ns}/jobs", body=hook_step_job("runner-x1", template))
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "web-ci"
    pods: list = []

    def step_pod_exists() -> bool:
        pods[:] = kube.request("GET", f"/api/v1/namespaces/{ns}/pods",
                               query={"labelSelector": "job-name=runner-x1-step"})["items"]
        return bool(pods)

    assert eventually(step_pod_exists, 30), "the Job controller created no pod"
    assert pods[0]["spec"]["serviceAccountName"] == "web-ci"


def test_another_projects_account_cannot_be_named(kube, kube_mode):
    _, ns, runner, _ = kube_mode
    other_ns = ns.replace("rkhook-", "rkhook-other-")
    assert kube.get(BY_KIND["ServiceAccount"], "other-ci", other_ns) is not None
    # A pod's serviceAccountName is resolved in the pod's own namespace (ServiceAccount admission):
    # other-ci does not exist in web's namespace, so naming it is refused...
    stolen = hook_job_pod("runner-x2", {"spec": {"serviceAccountName": "other-ci"}})
    with pytest.raises(ApiError) as refused:
        runner.request("POST", f"/api/v1/namespaces/{ns}/pods", body=stolen)
    assert refused.value.status == 403 and 'serviceaccount "other-ci" not found' in str(refused.value)
    # ...and creating the pod where other-ci lives is beyond the runner's RBAC (arc-kube-mode is a
    # Role in web's namespace only).
    with pytest.raises(ApiError) as forbidden:
        runner.request("POST", f"/api/v1/namespaces/{other_ns}/pods", body=stolen)
    assert forbidden.value.status == 403 and "cannot create resource \"pods\"" in str(forbidden.value)


def test_helm_list_works_with_the_job_pods_account(kube, kube_mode, tmp_path):
    _, ns, _, _ = kube_mode
    helm = CACHE / "tools" / "v32" / "helm"
    assert os.access(helm, os.X_OK), "helm not fetched: scripts/fetch-helm-kubectl v32"
    # The token the kubelet would mount into the job pod: web-ci's, as the pod's spec names it.
    server, ca = admin_cluster(os.environ["RUNNERKIT_E2E_KUBECONFIG"])
    config = write_kubeconfig(tmp_path / "job.kubeconfig", server, ca,
                              {"token": kube.token_request(ns, "web-ci", 600)["token"]}, ns)
    env = {**{k: v for k, v in os.environ.items() if k != "KUBECONFIG"}, "KUBECONFIG": str(config),
           "HELM_CACHE_HOME": str(tmp_path / "hc"), "HELM_CONFIG_HOME": str(tmp_path / "hcfg")}
    got = subprocess.run([str(helm), "list", "-n", ns], capture_output=True, text=True, env=env, timeout=60)
    assert got.returncode == 0, got.stderr
    assert got.stdout.startswith("NAME")
    # The namespace's default account (what the hook used without the template) may not.
    default = write_kubeconfig(tmp_path / "default.kubeconfig", server, ca,
                               {"token": kube.token_request(ns, "default", 600)["token"]}, ns)
    env["KUBECONFIG"] = str(default)
    denied = subprocess.run([str(helm), "list", "-n", ns], capture_output=True, text=True, env=env, timeout=60)
    assert denied.returncode != 0 and "forbidden" in denied.stderr


def _created(client, ns: str, pod: dict) -> dict | None:
    # The ServiceAccount controller creates `default` a moment after the namespace.
    try:
        return client.request("POST", f"/api/v1/namespaces/{ns}/pods", body=pod)
    except ApiError as e:
        if 'serviceaccount "default" not found' in str(e):
            time.sleep(0.2)
            return None
        raise
