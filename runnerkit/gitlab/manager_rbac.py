"""The Role and RoleBinding that let a GitLab Runner manager create job pods in a project's namespace."""

from __future__ import annotations

from ..model import presets
from ..model.kinds import RBAC
from ..model.objects import meta, role_ref_to
from ..model.spec import Project, Spec

GITLAB_MANAGER_ROLE = "runnerkit-gitlab-manager"


def render_manager_rbac(spec: Spec) -> list[dict]:
    return [o for p in spec.projects if p.runner and p.runner.type == "gitlab" for o in gitlab_manager_rbac(spec, p)]


def gitlab_manager_rbac(spec: Spec, p: Project) -> list[dict]:
    runner = p.runner
    subject = {"kind": "ServiceAccount", "name": runner.service_account, "namespace": runner.namespace}
    return [
        {"apiVersion": RBAC, "kind": "Role", "metadata": meta(spec, p.name, GITLAB_MANAGER_ROLE, p.namespace),
         "rules": [dict(r) for r in presets.GITLAB_MANAGER_RULES]},
        {"apiVersion": RBAC, "kind": "RoleBinding",
         "metadata": meta(spec, p.name, GITLAB_MANAGER_ROLE, p.namespace),
         "roleRef": role_ref_to("Role", GITLAB_MANAGER_ROLE), "subjects": [subject]},
    ]
