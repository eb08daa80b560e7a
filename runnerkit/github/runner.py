"""Switch an existing runner workload to a project's ServiceAccount in the cluster (thin edge over arc)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

import yaml

from ..cluster.protocol import Client
from ..errors import InputError, WorkloadNotFound
from ..model.spec import Project
from . import hook_template
from .arc import (RUNNER_KINDS, RunnerKind, namespace_problem, notes_for, pod_spec, runs_kube_mode,
                  service_account_of, service_account_patch)


@dataclass
class PatchResult:
    display: str
    namespace: str
    old: str  # the ServiceAccount it ran as
    new: str
    changed: bool
    dry_run: bool
    diff: str = ""
    notes: list[str] = field(default_factory=list)
    hook_template: bool = False  # the container-hook template was (or would be) wired in

    def to_dict(self) -> dict:
        return {"object": self.display, "namespace": self.namespace, "from": self.old, "to": self.new,
                "changed": self.changed, "hookTemplate": self.hook_template, "dryRun": self.dry_run,
                "diff": self.diff, "notes": self.notes}


def _not_served(kind: RunnerKind) -> str:
    return (f"the cluster has no {kind.kind.kind} kind: CRD {kind.crd} is not installed "
            f"({kind.kind.api_version} is not served). Install {kind.installed_by}, or pick the kind your "
            "runner really is with --kind")


def served(client: Client, kind: RunnerKind) -> bool:
    if kind.crd is None:
        return True
    resources = client.served_resources(kind.kind.api_version)
    return resources is not None and kind.kind.plural in resources


def find_workload(client: Client, kind_name: str | None, name: str, namespace: str) -> tuple[RunnerKind, dict]:
    """The runner workload `name` in `namespace`: of the given kind, or whichever kind has it."""
    if kind_name:
        kind = RUNNER_KINDS[kind_name]
        if not served(client, kind):
            raise InputError(_not_served(kind))
        obj = client.get(kind.kind, name, namespace)
        if obj is None:
            raise WorkloadNotFound(f"no {kind.kind.kind} named {name} in namespace {namespace}; pass --name "
                             "and --namespace of the runner workload")
        return kind, obj
    found: list[tuple[RunnerKind, dict]] = []
    absent: list[str] = []
    for kind in RUNNER_KINDS.values():
        if kind.crd is not None and not served(client, kind):
            absent.append(kind.crd)
            continue
        obj = client.get(kind.kind, name, namespace)
        if obj is not None:
            found.append((kind, obj))
    if len(found) == 1:
        return found[0]
    if not found:
        looked = ", ".join(k.kind.kind for k in RUNNER_KINDS.values() if k.crd not in absent)
        raise WorkloadNotFound(f"no runner workload named {name} in namespace {namespace} (looked for {looked}"
                         + (f"; not installed: {', '.join(absent)}" if absent else "")
                         + "); pass --name, --namespace and --kind of the runner workload")
    raise InputError(f"several runner workloads are named {name} in {namespace} ("
                     + ", ".join(k.name for k, _ in found) + "); pick one with --kind")


def locate(client: Client, kind_name: str | None, name: str, namespaces: list[str]) -> tuple[RunnerKind, dict, str]:
    """The workload in the first of `namespaces` that has it."""
    misses = []
    for namespace in dict.fromkeys(namespaces):
        try:
            return (*find_workload(client, kind_name, name, namespace), namespace)
        except WorkloadNotFound as e:
            misses.append(str(e).split("; pass --name")[0])
    raise WorkloadNotFound("; ".join(misses) + "; pass --name, --namespace and --kind of the runner workload")


def patch_runner(client: Client, project: Project, name: str, namespace: str | list[str], kind_name: str | None = None,
                 dry_run: bool = False) -> PatchResult:
    """Point the workload's pod template at the project's ServiceAccount. Idempotent: no write when it
    already does. A dry run asks the server (dryRun=All) and returns the diff of `spec`. With several
    namespaces, the first that has the workload is used."""
    kind, obj, namespace = locate(client, kind_name, name, [namespace] if isinstance(namespace, str) else namespace)
    display = kind.kind.display(name, namespace)
    problem = namespace_problem(namespace, project, display)
    if problem:
        raise InputError(problem)
    old, new = service_account_of(obj), project.service_account
    patch = service_account_patch(obj, new)
    notes = notes_for(obj, kind, project) if patch is not None else []
    wiring, hook_note = hook_template_patch(obj, kind, project)
    if wiring:
        patch = patch or {"spec": {"template": {"spec": {}}}}
        patch["spec"]["template"]["spec"].update(wiring)
        notes.append(hook_note)
    elif hook_note:
        notes.append(hook_note)
    result = PatchResult(display, namespace, old, new, changed=patch is not None, dry_run=dry_run,
                         notes=notes, hook_template=bool(wiring))
    if patch is None:
        return result
    after = client.patch(kind.kind, name, namespace, patch, dry_run=dry_run)
    result.diff = spec_diff(obj, after, display)
    return result


def hook_template_patch(obj: dict, kind: RunnerKind, project: Project) -> tuple[dict | None, str]:
    """For a kubernetes-mode AutoscalingRunnerSet: the containers/volumes that mount the project's
    hook template (None when already there), and a note for the user."""
    if kind.name != "autoscalingrunnerset" or not runs_kube_mode(obj):
        return None, ""
    if not project.github.kube_mode:
        return None, (f"the scale set runs in kubernetes container mode, but project {project.name} has no "
                      "github.containerMode: kubernetes, so its job pods run as the namespace's default "
                      "ServiceAccount: add it to the spec, `runnerkit apply`, and run patch-runner again")
    wiring = hook_template.with_template(pod_spec(obj), project)
    # A merge patch replaces lists whole: containers and volumes are sent complete, as read.
    return wiring, (f"job pods and container steps run as {project.service_account}: the runner reads "
                    f"{hook_template.TEMPLATE_ENV} from ConfigMap {hook_template.config_map_name(project)}; "
                    "new runners pick it up, busy runners finish their jobs first") if wiring else ""


def spec_diff(before: dict, after: dict, label: str) -> str:
    a = yaml.safe_dump(before.get("spec"), sort_keys=True).splitlines(keepends=True)
    b = yaml.safe_dump(after.get("spec"), sort_keys=True).splitlines(keepends=True)
    return "".join(difflib.unified_diff(a, b, f"{label} (live) spec", f"{label} (patched) spec"))
