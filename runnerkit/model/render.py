"""Spec -> Kubernetes objects as plain dicts (the one thing render, apply, diff and the chart compare)."""

from __future__ import annotations

import json

import yaml

from .kinds import RBAC, sort_key
from .mapping import subjects as identity_subjects
from .objects import meta, role_ref_to
from .spec import Grant, Project, Spec


def render_projects(spec: Spec) -> list[dict]:
    """Every project's namespace, ServiceAccount, quota, limits and grants, in apply order. The
    runner-specific objects are added on top of these by runnerkit.desired."""
    objects: list[dict] = []
    for project in spec.projects:
        objects += render_project(spec, project)
    return sorted(objects, key=sort_key)


def render_project(spec: Spec, p: Project) -> list[dict]:
    ns = p.namespace
    objects = []
    if p.manage_namespace:
        objects.append({"apiVersion": "v1", "kind": "Namespace",
                        "metadata": meta(spec, p.name, ns, None, p.namespace_labels, p.namespace_annotations)})
    objects.append(service_account(spec, p))
    if p.resource_quota:
        objects.append({"apiVersion": "v1", "kind": "ResourceQuota",
                        "metadata": meta(spec, p.name, "runnerkit", ns), "spec": p.resource_quota})
    if p.limit_range:
        objects.append({"apiVersion": "v1", "kind": "LimitRange",
                        "metadata": meta(spec, p.name, "runnerkit", ns), "spec": p.limit_range})
    subjects = [{"kind": "ServiceAccount", "name": p.service_account, "namespace": ns}]
    subjects += identity_subjects(p.identities)  # CI jobs that act as the project, by OIDC token
    for grant in p.grants:
        objects += render_grant(spec, p, grant, subjects)
    return objects


def service_account(spec: Spec, p: Project) -> dict:
    sa: dict = {"apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": meta(spec, p.name, p.service_account, p.namespace,
                                 annotations=p.service_account_annotations)}
    if p.automount_token is not None:
        sa["automountServiceAccountToken"] = p.automount_token
    if p.image_pull_secrets:
        sa["imagePullSecrets"] = [{"name": s} for s in p.image_pull_secrets]
    return sa


def grant_object_name(spec: Spec, p: Project, grant: Grant) -> str:
    # Cluster-scoped objects carry the spec's name: two specs may both have a project `web`.
    # Namespaced ones keep the short name; a clash there is refused by the ownership check.
    if grant.cluster_wide:
        return f"runnerkit-{spec.name}-{p.name}-{grant.name}"
    return f"runnerkit-{p.name}-{grant.name}"


def render_grant(spec: Spec, p: Project, grant: Grant, subjects: list[dict]) -> list[dict]:
    name = grant_object_name(spec, p, grant)
    rules = [dict(r) for r in grant.rules]
    if grant.cluster_wide:
        out = []
        role_ref = role_ref_to("ClusterRole", grant.cluster_role or name)
        if not grant.cluster_role:
            out.append({"apiVersion": RBAC, "kind": "ClusterRole",
                        "metadata": meta(spec, p.name, name), "rules": rules})
        out.append({"apiVersion": RBAC, "kind": "ClusterRoleBinding", "metadata": meta(spec, p.name, name),
                    "roleRef": role_ref, "subjects": [dict(s) for s in subjects]})
        return out
    out = []
    for ns in grant.namespaces:
        if grant.cluster_role:
            role_ref = role_ref_to("ClusterRole", grant.cluster_role)
        else:
            role_ref = role_ref_to("Role", name)
            out.append({"apiVersion": RBAC, "kind": "Role", "metadata": meta(spec, p.name, name, ns),
                        "rules": rules})
        out.append({"apiVersion": RBAC, "kind": "RoleBinding", "metadata": meta(spec, p.name, name, ns),
                    "roleRef": role_ref, "subjects": [dict(s) for s in subjects]})
    return out


_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def to_yaml(objects: list[dict]) -> str:
    return yaml.dump_all(objects, Dumper=_Dumper, sort_keys=False, explicit_start=True,
                         default_flow_style=False)


def to_json(objects: list[dict]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}, indent=2)
