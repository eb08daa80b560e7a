"""Live mode: edit the runner's ConfigMap in the cluster, then restart the runner Deployment.

Read once, edit in memory, write back with the resourceVersion that was read (a concurrent edit
makes the server answer 409 and nothing is overwritten). The previous template rides along in an
annotation of the same write, so `rollback` can restore it byte for byte.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ..errors import Conflict, InputError
from ..model.kinds import CONFIG_MAP, DEPLOYMENT
from ..model.spec import Runner
from .template import TEMPLATE_KEY, Edit, Wanted, edit_template, unified_diff
from ..cluster.protocol import Client

BACKUP_ANNOTATION = "runnerkit.io/previous-config-template"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"  # what `kubectl rollout restart` sets
OVERWRITE_ENV = ("KUBERNETES_NAMESPACE_OVERWRITE_ALLOWED", "KUBERNETES_SERVICE_ACCOUNT_OVERWRITE_ALLOWED")


@dataclass
class ConfigMapEdit:
    configmap: str  # "configmap/NAME -n NS"
    before: str | None
    after: str | None
    written: bool = False
    restarted: str | None = None  # "deployment/NAME -n NS" when restarted
    dry_run: bool = False
    hand_edited: bool = False  # rollback: the live template is not what configure-runner wrote
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self) -> str:
        return unified_diff(self.before or "", self.after or "", f"{self.configmap} {TEMPLATE_KEY}")

    def to_dict(self) -> dict:
        return {"configMap": self.configmap, "changed": self.changed, "written": self.written,
                "restarted": self.restarted, "dryRun": self.dry_run, "notes": self.notes,
                "warnings": self.warnings, "template": self.after}


def configure(client: Client, runner: Runner, wanted: Wanted, *, configmap: str | None = None,
              dry_run: bool = False, restart: bool = True) -> ConfigMapEdit:
    cm = read_configmap(client, runner, configmap)
    name, ns = cm["metadata"]["name"], cm["metadata"]["namespace"]
    label = CONFIG_MAP.display(name, ns)
    before = (cm.get("data") or {}).get(TEMPLATE_KEY)
    edit: Edit = edit_template(before, wanted, f"{label} key {TEMPLATE_KEY}", runner.namespace)
    out = ConfigMapEdit(label, before, edit.after, dry_run=dry_run, notes=list(edit.notes))
    deployment = client.get(DEPLOYMENT, runner.deployment, ns)
    out.warnings += runner_warnings(cm, deployment, runner, ns)
    if not edit.changed or dry_run:
        return out
    write(client, cm, edit.after, backup_of(before, edit.after))
    out.written = True
    out.notes.append(f"previous template kept in annotation {BACKUP_ANNOTATION} of {label}; "
                     "undo with `runnerkit gitlab rollback`")
    if restart:
        out.restarted = restart_runner(client, deployment, runner, ns, out)
    return out


def rollback(client: Client, runner: Runner, *, configmap: str | None = None, dry_run: bool = False,
             restart: bool = True, force: bool = False) -> ConfigMapEdit:
    """Restore the backup. When the template was edited since configure-runner wrote it, the
    edit would be lost: nothing is written (out.hand_edited) unless `force`."""
    cm = read_configmap(client, runner, configmap)
    name, ns = cm["metadata"]["name"], cm["metadata"]["namespace"]
    label = CONFIG_MAP.display(name, ns)
    raw = (cm["metadata"].get("annotations") or {}).get(BACKUP_ANNOTATION)
    if raw is None:
        raise InputError(f"{label} has no {BACKUP_ANNOTATION} annotation: nothing to roll back "
                         "(configure-runner keeps the previous template there when it writes)")
    try:
        backup = json.loads(raw)
        previous = backup["content"] if backup["present"] else None
    except (ValueError, KeyError, TypeError):
        raise InputError(f"{label}: annotation {BACKUP_ANNOTATION} is not runnerkit's backup "
                         "(JSON with present and content); restore the template by hand") from None
    current = (cm.get("data") or {}).get(TEMPLATE_KEY)
    out = ConfigMapEdit(label, current, previous, dry_run=dry_run)
    wrote = backup.get("wrote") if isinstance(backup, dict) else None
    out.hand_edited = wrote is not None and wrote != digest(current)
    if dry_run or (out.hand_edited and not force):
        return out
    write(client, cm, previous, None)
    out.written = True
    if restart:
        out.restarted = restart_runner(client, client.get(DEPLOYMENT, runner.deployment, ns), runner, ns, out)
    return out


def read_configmap(client: Client, runner: Runner, configmap: str | None) -> dict:
    name = configmap or runner.config_map
    cm = client.get(CONFIG_MAP, name, runner.namespace)
    if cm is None:
        raise InputError(f"{CONFIG_MAP.display(name, runner.namespace)} not found: is runner "
                         f"{runner.name!r} installed there? Set release/fullnameOverride/configMap and "
                         "namespace of the runner in the spec, or pass --configmap NAME")
    return cm


def write(client: Client, cm: dict, template: str | None, backup: str | None) -> dict:
    """One PUT of `cm` (as read, resourceVersion included) with the template set, or removed when
    None, and the backup annotation set to `backup`, or removed when None."""
    new = copy.deepcopy(cm)
    meta = new["metadata"]
    meta.pop("managedFields", None)  # omitted on update means: keep the server's
    data = new["data"] = dict(new.get("data") or {})
    if template is None:
        data.pop(TEMPLATE_KEY, None)
    else:
        data[TEMPLATE_KEY] = template
    annotations = dict(meta.get("annotations") or {})
    if backup is None:
        annotations.pop(BACKUP_ANNOTATION, None)
    else:
        annotations[BACKUP_ANNOTATION] = backup
    meta["annotations"] = annotations
    try:
        return client.replace(CONFIG_MAP, new)
    except Conflict:
        raise Conflict(f"{CONFIG_MAP.display(meta['name'], meta['namespace'])} changed since runnerkit "
                       f"read it (resourceVersion {meta.get('resourceVersion')}): someone else edited "
                       "it, and nothing was overwritten; run the command again to start from the "
                       "current content", 409) from None


def backup_of(template: str | None, written: str | None = None) -> str:
    """The previous template, and a digest of what replaced it (to tell a later hand edit)."""
    return json.dumps({"present": template is not None, "content": template or "", "wrote": digest(written)})


def digest(template: str | None) -> str:
    return hashlib.sha256((template if template is not None else "\0absent").encode()).hexdigest()[:32]


def restart_runner(client: Client, deployment: dict | None, runner: Runner, ns: str, out: ConfigMapEdit) -> str | None:
    label = DEPLOYMENT.display(runner.deployment, ns)
    if deployment is None:
        out.warnings.append(f"{label} not found, so nothing was restarted: restart the runner yourself "
                            "(it reads the template only when it registers at start)")
        return None
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    client.patch(DEPLOYMENT, runner.deployment, ns,
                 {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}},
                 patch_type="merge")
    return label


def runner_warnings(cm: dict, deployment: dict | None, runner: Runner, ns: str) -> list[str]:
    """Settings outside the template that silently defeat it."""
    warnings = []
    script = (cm.get("data") or {}).get("register-the-runner")
    if script is not None and "--template-config" not in script:
        warnings.append(
            f"{CONFIG_MAP.display(cm['metadata']['name'], ns)}: register-the-runner has no "
            "--template-config line (the chart drops it when runners.config is empty), so the runner "
            "ignores this template until you set runners.config in the Helm values and `helm upgrade` "
            "(`runnerkit gitlab configure-runner --values-file values.yaml` does the edit)")
    for container in ((deployment or {}).get("spec", {}).get("template", {}).get("spec", {})
                      .get("containers") or []):
        for env in container.get("env") or []:
            name = env.get("name", "")
            if not name.startswith("KUBERNETES_"):
                continue
            value = f"={env['value']}" if "value" in env else " (from a reference)"
            where = f"{DEPLOYMENT.display(runner.deployment, ns)} container {container.get('name')}"
            if name in OVERWRITE_ENV:
                warnings.append(f"{where} sets {name}{value}, which overrides the regex runnerkit writes "
                                "(registration env wins over the template): remove it from the chart "
                                "values (envVars)")
            elif name == "KUBERNETES_NAMESPACE":
                warnings.append(f"{where} sets {name}{value}, which overrides the template's namespace "
                                "(the chart adds it when the template has no `namespace =` line)")
            else:
                warnings.append(f"{where} sets {name}{value}, which overrides the template's matching "
                                "setting")
    return warnings
