"""The CI snippet for a keyless GitLab identity: a GitLab CI job that reaches its project's
namespace with its own OIDC ID token through the runnerkit-oidc CI/CD component (nothing stored).

The job's conditions mirror the identity (ref type, refs, environment, protected ref), so the
snippet as printed is a job the cluster admits; the API server still decides, the snippet only
saves a 403.
"""

from __future__ import annotations

import json

from ..model.identities import TRUST_HINT, GitlabIdentity
from ..model.spec import Project, Spec


COMPONENT = "$CI_SERVER_FQDN/platform/runnerkit-ci/runnerkit-oidc@1.0.0"


def gitlab_oidc_snippet(spec: Spec, project: Project, identity: GitlabIdentity) -> str:
    aud = identity.issuer.audience
    lines = [
        f"# GitLab CI job for project {project.name}, keyless: `runnerkit snippet gitlab {project.name}`.",
        f"# It authenticates as {identity.project_path} with its own ID token (issuer {identity.issuer.name});",
        "# nothing is stored. Before the first run:",
        "#  - publish the runnerkit CI/CD component (`runnerkit export gitlab-component runnerkit-ci`, push it",
        "#    as its own project, here platform/runnerkit-ci, and tag 1.0.0);",
        "#  - set CI/CD variables KUBE_SERVER (API server URL) and KUBE_CA (its CA, PEM; not secret).",
        *TRUST_HINT,
        "include:",
        f"  - component: {COMPONENT}",
        "    inputs:",
        f"      audience: {json.dumps(aud)}",
        f"      namespace: {project.namespace}",
        "deploy:",
        "  extends: .runnerkit-oidc",
        "  image:  # any image with a shell; with kubectl in it, the component also verifies",
        "    name: alpine/helm:3.17.2",
        "    entrypoint: [\"\"]",
    ]
    if identity.environments:
        lines.append(f"  environment: {json.dumps(identity.environments[0])}")
    lines += [
        "  script:",
        f"    - helm upgrade --install {project.name} ./chart --wait  # your deployment; KUBECONFIG is set",
    ]
    if identity.refs:
        var = "CI_COMMIT_TAG" if identity.ref_type == "tag" else "CI_COMMIT_BRANCH"
        lines += ["  rules:"] + [f"    - if: '${var} == {json.dumps(r)}'" for r in identity.refs]
    elif identity.ref_type:
        lines += ["  rules:", f"    - if: '${'CI_COMMIT_TAG' if identity.ref_type == 'tag' else 'CI_COMMIT_BRANCH'}'"]
    if identity.protected:
        lines.insert(lines.index("include:"), "# The ref must be protected (Settings > Repository > Protected branches/tags).")
    return "\n".join(lines) + "\n"
