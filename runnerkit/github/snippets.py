"""The GitHub workflow job that runs as a project's ServiceAccount through the setup-kube action."""

from __future__ import annotations

from ..errors import InputError
from ..model.spec import Project, Spec

ACTION_PATH = "./.github/actions/setup-kube"


def workflow_snippet(spec: Spec, project: Project) -> str:
    runner = project.runner
    if runner.type != "github":
        raise InputError(f"{spec.path}: project {project.name!r} runs on {runner.type} runner "
                         f"{runner.name!r}, not a github runner; use `runnerkit snippet {runner.type} "
                         f"{project.name}`, or set the project's runner: to a github runner")
    ns, sa = project.namespace, project.service_account
    lines = [
        f"# GitHub Actions job for project {project.name}: `runnerkit snippet github {project.name}`.",
        "# Paste it under `jobs:` of a workflow in .github/workflows/. Before the first run:",
        f"#  - runner pods run as ServiceAccount {sa} in namespace {ns}: "
        f"`runnerkit github runner-values {project.name}`",
        f"#    (new ARC install) or `runnerkit github patch-runner {project.name}` (existing runner);",
        "#  - write the setup-kube action into the repository (it ships with runnerkit):",
        "#    `runnerkit export github-action .github/actions/setup-kube`, and commit it.",
        f"# runs-on is the ARC scale set's name ({runner.release}); for summerwind or plain Deployment",
        "# runners use their labels instead, e.g. [self-hosted, linux].",
        "deploy:",
        f"  runs-on: {runner.release}",
    ]
    if project.github.environment:
        lines.append(f"  environment: {_scalar(project.github.environment)}")
    lines += [
        "  permissions:",
        "    contents: read",
        "  steps:",
        "    - uses: actions/checkout@v4",
        f"    - name: Kubernetes access as {sa} in {ns}",
        "      id: kube",
        f"      uses: {ACTION_PATH}",
        "      with:",
        f"        namespace: {ns}",
        "        verify: true",
        "    - name: Deploy",
        "      # kubectl and helm now use $KUBECONFIG: the pod's own token, CA and namespace "
        f"{ns}.",
        "      run: |",
        "        kubectl version",
        f"        # your deployment, e.g.: helm upgrade --install {project.name} ./chart --wait",
    ]
    return "\n".join(lines) + "\n"


def _scalar(text: str) -> str:
    """A YAML scalar: plain when safe, else double-quoted."""
    if text and all(c.isalnum() or c in "-_. /" for c in text) and not text[0] in " -" and text[-1] != " ":
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
