"""What every object runnerkit writes carries: its labels and metadata, and RBAC references. Pure."""

from __future__ import annotations

from .spec import Spec

MANAGED_BY = "app.kubernetes.io/managed-by"
SPEC_LABEL = "runnerkit.io/spec"
PROJECT_LABEL = "runnerkit.io/project"


def labels(spec: Spec, project: str | None = None) -> dict:
    out = {MANAGED_BY: "runnerkit", SPEC_LABEL: spec.name}
    if project:
        out[PROJECT_LABEL] = project
    return out


def meta(spec: Spec, project: str | None, name: str, namespace: str | None = None,
         extra_labels: dict | None = None, annotations: dict | None = None) -> dict:
    out: dict = {"name": name}
    if namespace:
        out["namespace"] = namespace
    out["labels"] = {**(extra_labels or {}), **labels(spec, project)}
    if annotations:
        out["annotations"] = dict(annotations)
    return out


def legacy_cluster_name(spec_name: str, name: str) -> str | None:
    """The name a cluster-scoped object had before names carried the spec (for the migration)."""
    prefix = f"runnerkit-{spec_name}-"
    return "runnerkit-" + name[len(prefix):] if name.startswith(prefix) else None


def role_ref_to(kind: str, name: str) -> dict:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name}
