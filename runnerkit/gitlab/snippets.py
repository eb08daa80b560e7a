"""The .gitlab-ci.yml fragment that makes a project's jobs run in its namespace as its ServiceAccount."""

from __future__ import annotations

import json

from ..errors import InputError
from ..model.spec import Project, Spec

NAMESPACE_VARIABLE = "KUBERNETES_NAMESPACE_OVERWRITE"
SERVICE_ACCOUNT_VARIABLE = "KUBERNETES_SERVICE_ACCOUNT_OVERWRITE"


def ci_variables(project: Project) -> dict[str, str]:
    return {NAMESPACE_VARIABLE: project.namespace, SERVICE_ACCOUNT_VARIABLE: project.service_account}


def require_gitlab(spec: Spec, project: Project) -> None:
    if project.runner.type != "gitlab":
        raise InputError(f"{spec.path}: project {project.name!r} runs on runner {project.runner.name!r} "
                         f"of type {project.runner.type}, not gitlab; use `runnerkit snippet "
                         f"{project.runner.type} {project.name}` or set its runner: to a gitlab runner")


def gitlab_ci_snippet(spec: Spec, project: Project) -> str:
    require_gitlab(spec, project)
    runner = project.runner
    lines = [
        f"# runnerkit ({spec.name}): jobs of project {project.name} run in namespace "
        f"{project.namespace} as ServiceAccount {project.service_account}",
        f"# on GitLab runner {runner.name} (release {runner.release} in namespace {runner.namespace}).",
        "# The runner honours these only after `runnerkit gitlab configure-runner`.",
        "variables:",
    ]
    lines += [f"  {key}: {json.dumps(value)}" for key, value in ci_variables(project).items()]
    if project.gitlab.tags:
        lines += ["default:", "  tags:"] + [f"    - {json.dumps(tag)}" for tag in project.gitlab.tags]
    return "\n".join(lines) + "\n"
