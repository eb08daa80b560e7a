"""The container-hook template that makes ARC kubernetes-mode job pods run as the project's account.

In containerMode kubernetes the runner pod does not run the job's containers itself: the k8s hook
of actions/runner-container-hooks creates a job pod (for `container:` jobs and services) and a
batch Job per container step, and sets no serviceAccountName on either, so they run as the
namespace's `default` account. Its only lever is ACTIONS_RUNNER_CONTAINER_HOOK_TEMPLATE: a file with
a PodTemplateSpec whose `spec` keys replace the hook's own (containers and volumes are appended
instead; a container named `$job` would merge into the job container). runnerkit puts that file in
a ConfigMap next to the ServiceAccount, and the runner values mount it. Pure: no I/O.
"""

from __future__ import annotations

import json

from ..model.objects import meta
from ..model.plan import is_subset
from ..model.spec import Project, Spec

TEMPLATE_ENV = "ACTIONS_RUNNER_CONTAINER_HOOK_TEMPLATE"
TEMPLATE_KEY = "template.yaml"
VOLUME = "runnerkit-hook-template"
MOUNT_DIR = "/home/runner/runnerkit-hook"
TEMPLATE_PATH = f"{MOUNT_DIR}/{TEMPLATE_KEY}"
RUNNER_CONTAINER = "runner"  # the container the gha-runner-scale-set chart treats as the runner
RUNNER_IMAGE = "ghcr.io/actions/actions-runner:latest"  # the chart's default, repeated: lists replace


def config_map_name(project: Project) -> str:
    # Per project, not per namespace: several projects may share one namespace.
    return f"runnerkit-{project.name}-hook-template"


def render_hook_templates(spec: Spec) -> list[dict]:
    """The hook-template ConfigMap of every GitHub project whose spec states a kubernetes mode."""
    return [config_map(spec, p) for p in spec.projects
            if p.runner and p.runner.type == "github" and p.github.kube_mode]


def config_map(spec: Spec, project: Project) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": meta(spec, project.name, config_map_name(project), project.namespace),
            "data": {TEMPLATE_KEY: template_text(project)}}


def pod_template(project: Project) -> dict:
    """What the hook merges into every job pod and container-step Job it creates. Only keys the
    project decides: each replaces the hook's value (imagePullSecrets replaces the secret the hook
    makes for a job's `container.credentials`, so it is set only when the project names some)."""
    spec: dict = {"serviceAccountName": project.service_account}
    if project.automount_token is not None:
        spec["automountServiceAccountToken"] = project.automount_token
    if project.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": s} for s in project.image_pull_secrets]
    return {"spec": spec}


def template_text(project: Project) -> str:
    # JSON is YAML the hook's js-yaml reads, and what the chart's toJson writes byte for byte.
    return json.dumps(pod_template(project), sort_keys=True, separators=(",", ":"))


def runner_volume(project: Project) -> dict:
    return {"name": VOLUME, "configMap": {"name": config_map_name(project)}}


def runner_env() -> dict:
    return {"name": TEMPLATE_ENV, "value": TEMPLATE_PATH}


def runner_mount() -> dict:
    return {"name": VOLUME, "mountPath": MOUNT_DIR, "readOnly": True}


def with_template(pod_spec: dict, project: Project) -> dict | None:
    """The pod spec's `containers` and `volumes` with the template wired into the runner container,
    or None when they already are (so patch-runner writes nothing twice). Other entries are kept."""
    containers = [dict(c) for c in pod_spec.get("containers") or []]
    volumes = [dict(v) for v in pod_spec.get("volumes") or []]
    runner = next((c for c in containers if c.get("name") == RUNNER_CONTAINER), None)
    if runner is None:
        runner = {"name": RUNNER_CONTAINER, "image": RUNNER_IMAGE, "command": ["/home/runner/run.sh"]}
        containers.append(runner)
    runner["env"], env_changed = _upsert(runner.get("env"), runner_env())
    runner["volumeMounts"], mount_changed = _upsert(runner.get("volumeMounts"), runner_mount())
    volumes, volume_changed = _upsert(volumes, runner_volume(project))
    changed = env_changed or mount_changed or volume_changed
    return {"containers": containers, "volumes": volumes} if changed else None


def _upsert(items: list | None, entry: dict) -> tuple[list, bool]:
    """`items` with `entry` in place of the item of the same name (or appended); changed or not."""
    items = list(items or [])
    for i, item in enumerate(items):
        if item.get("name") == entry["name"]:
            if is_subset(entry, item):  # the server may have filled in defaults (defaultMode)
                return items, False
            items[i] = entry
            return items, True
    return items + [entry], True
