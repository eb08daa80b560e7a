"""GitHub runner workloads, pure: ARC scale-set values, and the patch that makes a runner workload
run as a project's ServiceAccount (Deployment, summerwind RunnerDeployment, ARC AutoscalingRunnerSet).
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from ..model.kinds import DEPLOYMENT, Kind
from ..model.presets import PRESETS
from ..model.spec import Project
from . import hook_template

CHART = "oci://ghcr.io/actions/actions-runner-controller-charts/gha-runner-scale-set"
KUBE_MODE_PRESET = "arc-kube-mode"
HOOKS_ENV = "ACTIONS_RUNNER_CONTAINER_HOOKS"  # set on the runner container in ARC's kubernetes mode


@dataclass(frozen=True)
class RunnerKind:
    name: str  # what --kind takes
    kind: Kind
    crd: str | None  # the CRD that serves it, None for built-in kinds
    installed_by: str


RUNNER_KINDS: dict[str, RunnerKind] = {k.name: k for k in (
    RunnerKind("autoscalingrunnerset",
               Kind("AutoscalingRunnerSet", "actions.github.com/v1alpha1", "autoscalingrunnersets", True, 0),
               "autoscalingrunnersets.actions.github.com",
               "ARC's gha-runner-scale-set-controller chart"),
    RunnerKind("runnerdeployment",
               Kind("RunnerDeployment", "actions.summerwind.dev/v1alpha1", "runnerdeployments", True, 0),
               "runnerdeployments.actions.summerwind.dev",
               "the legacy summerwind actions-runner-controller"),
    RunnerKind("deployment", DEPLOYMENT, None, "Kubernetes"),
)}


# -- gha-runner-scale-set values --------------------------------------------------------------------


def runner_values(project: Project, container_mode: str = "default", storage_class: str | None = None,
                  work_size: str = "1Gi") -> dict:
    """The values fragment that makes the scale set's runner pods run as the project's ServiceAccount."""
    values: dict = {}
    if project.runner.namespace != project.namespace:
        values["namespaceOverride"] = project.namespace
    values["template"] = {"spec": {"serviceAccountName": project.service_account}}
    if container_mode.startswith("kubernetes"):
        # The chart keeps these env/volumeMounts on container `runner` and adds its own (hooks,
        # work); the list replaces the chart's default containers, so image and command come too.
        wired = hook_template.with_template({}, project)
        values["template"]["spec"].update(wired or {})
    if container_mode == "kubernetes":
        claim: dict = {"accessModes": ["ReadWriteOnce"]}
        if storage_class:
            claim["storageClassName"] = storage_class
        claim["resources"] = {"requests": {"storage": work_size}}
        values["containerMode"] = {"type": "kubernetes", "kubernetesModeWorkVolumeClaim": claim}
    elif container_mode != "default":
        values["containerMode"] = {"type": container_mode}
    return values


def runner_values_yaml(project: Project, container_mode: str = "default", storage_class: str | None = None,
                       work_size: str = "1Gi") -> str:
    runner = project.runner
    values = runner_values(project, container_mode, storage_class, work_size)
    lines = [
        f"# gha-runner-scale-set values for project {project.name}: runner pods run as ServiceAccount",
        f"# {project.service_account} in namespace {project.namespace} (created with its grants by "
        "`runnerkit apply`).",
        "# Naming the ServiceAccount stops the chart from rendering its own (…-no-permission or "
        "…-kube-mode)",
        "# and its kube-mode Role: the project's grants are all the runner gets.",
        "# Merge with your values (githubConfigUrl, githubConfigSecret, ...) and install:",
        f"#   helm upgrade --install {runner.release} \\",
        f"#     {CHART} \\",
        f"#     --namespace {runner.namespace} -f values.yaml -f runner-values.yaml",
    ]
    if "namespaceOverride" in values:
        lines += [f"# namespaceOverride puts the scale set and its runner pods in {project.namespace}: a pod "
                  "can only use a",
                  f"# ServiceAccount of its own namespace (the Helm release stays in {runner.namespace})."]
    if container_mode == "kubernetes":
        lines += ["# containerMode kubernetes: each runner gets a `work` volume from "
                  "kubernetesModeWorkVolumeClaim",
                  "# (required by the chart), shared with the job pods the runner creates; "
                  + (f"StorageClass {storage_class}." if storage_class else "no storageClassName:"),
                  *([] if storage_class else
                    ["# the cluster's default StorageClass (`kubectl get storageclass`; --storage-class)."])]
    if container_mode.startswith("kubernetes"):
        lines += ["# Job pods and container steps are created by the container hook, which names no "
                  "ServiceAccount:",
                  f"# {hook_template.TEMPLATE_ENV} points it at ConfigMap "
                  f"{hook_template.config_map_name(project)}",
                  f"# (rendered by `runnerkit apply`), so they run as {project.service_account} too."]
        if not project.github.kube_mode:
            lines += ["# The spec does not render that ConfigMap yet: add",
                      f"# `github: {{containerMode: {container_mode}}}` to project {project.name} and "
                      "`runnerkit apply`."]
        missing = missing_kube_mode_rights(project)
        lines.append("# The runner creates job pods with its ServiceAccount: the project "
                     + ("grants what it needs (arc-kube-mode)." if not missing else
                        f"LACKS {KUBE_MODE_PRESET} rights; add `- preset: {KUBE_MODE_PRESET}` to its access:."))
    return "\n".join(lines) + "\n" + yaml.safe_dump(values, sort_keys=False, default_flow_style=False)


def missing_kube_mode_rights(project: Project) -> list[str]:
    """(verb resource) pairs kube-mode runners need that no grant gives in the project's namespace."""
    granted: set[tuple[str, str, str]] = set()
    for grant in project.grants:
        if not (grant.cluster_wide or project.namespace in grant.namespaces) or grant.cluster_role:
            continue
        for rule in grant.rules:
            if rule.get("resourceNames"):
                continue
            for group in rule.get("apiGroups", []):
                for resource in rule.get("resources", []):
                    for verb in rule.get("verbs", []):
                        granted.add((group, resource, verb))
    missing = []
    for rule in PRESETS[KUBE_MODE_PRESET].rules:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    if not ({(group, resource, verb), ("*", resource, verb), (group, "*", verb),
                             (group, resource, "*")} & granted):
                        missing.append(f"{verb} {resource}")
    return missing


# -- runner workloads ---------------------------------------------------------------------------------


def pod_spec(obj: dict) -> dict:
    """The runner pod template's spec: spec.template.spec for all three kinds."""
    return ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}


def service_account_of(obj: dict) -> str:
    spec = pod_spec(obj)
    return spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"


def service_account_patch(obj: dict, service_account: str) -> dict | None:
    """The minimal JSON merge patch to run as `service_account`, or None if it already does."""
    spec = pod_spec(obj)
    fields = {"serviceAccountName": service_account}
    # The deprecated alias, when present and different, would contradict the new name in the CRDs.
    if "serviceAccount" in spec and spec["serviceAccount"] != service_account:
        fields["serviceAccount"] = service_account
    if all(spec.get(k) == v for k, v in fields.items()):
        return None
    return {"spec": {"template": {"spec": fields}}}


def runs_kube_mode(obj: dict) -> bool:
    spec = pod_spec(obj)
    if spec.get("containerMode") == "kubernetes":  # summerwind RunnerDeployment
        return True
    return any(env.get("name") == HOOKS_ENV for c in spec.get("containers") or []
               for env in c.get("env") or [])


def notes_for(obj: dict, kind: RunnerKind, project: Project) -> list[str]:
    """What the user should know about switching this workload (pure; no cluster access)."""
    notes = []
    labels = (obj.get("metadata") or {}).get("labels") or {}
    if labels.get("app.kubernetes.io/managed-by") == "Helm":
        notes.append(f"{kind.kind.kind} {obj['metadata']['name']} is managed by Helm: put "
                     f"template.spec.serviceAccountName: {project.service_account} in its values too "
                     f"(`runnerkit github runner-values {project.name}`), or the next helm upgrade "
                     "reverts this patch")
    if pod_spec(obj).get("automountServiceAccountToken") is False:
        notes.append("the runner pod template sets automountServiceAccountToken: false: jobs get no "
                     "token to use; remove it (or mount a projected token) for in-pod kubectl/helm")
    if runs_kube_mode(obj):
        missing = missing_kube_mode_rights(project)
        if missing:
            notes.append(f"the runner uses kubernetes container mode, which needs {', '.join(missing)} "
                         f"in {project.namespace}: add `- preset: {KUBE_MODE_PRESET}` to project "
                         f"{project.name}'s access: and `runnerkit apply` (the chart's own kube-mode "
                         "Role is bound to the old ServiceAccount)")
    if kind.name == "deployment":
        notes.append("the Deployment rolls its pods; running jobs finish on the old pods")
    else:
        notes.append("the controller creates new runners with the new ServiceAccount; busy runners "
                     "finish their jobs first")
    return notes


def namespace_problem(obj_namespace: str, project: Project, display: str) -> str | None:
    if obj_namespace == project.namespace:
        return None
    return (f"{display} runs its pods in namespace {obj_namespace}, but ServiceAccount "
            f"{project.service_account} lives in namespace {project.namespace}, and a pod can only use a "
            f"ServiceAccount of its own namespace. Run the runner in {project.namespace} (ARC: "
            f"namespaceOverride: {project.namespace}, see `runnerkit github runner-values {project.name}`), "
            f"or set the project's namespace: {obj_namespace} in the spec and `runnerkit apply`")
