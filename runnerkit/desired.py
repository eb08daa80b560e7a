"""The desired state of a spec: every object runnerkit writes, assembled from the pure core
(model.render) and the runner integrations (the GitLab manager's RBAC and isolation policies, the GitHub container-hook templates), so
that the core never imports the integrations built on it."""

from __future__ import annotations

from .github.hook_template import render_hook_templates
from .gitlab.isolation import render_isolation
from .gitlab.manager_rbac import render_manager_rbac
from .model.kinds import sort_key
from .model.render import render_projects
from .model.spec import Spec


def render(spec: Spec) -> list[dict]:
    """Everything `runnerkit render` prints and `apply` writes, in apply order."""
    objects = (render_projects(spec) + render_manager_rbac(spec) + render_isolation(spec)
               + render_hook_templates(spec))
    return sorted(objects, key=sort_key)
