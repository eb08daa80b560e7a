"""The CI snippet for a keyless GitLab identity: a GitLab CI job that reaches its project's
namespace with its own OIDC ID token through `runnerkit credential` (nothing stored).

The job's conditions mirror the identity (ref type, refs, environment, protected ref), so the
snippet as printed is a job the cluster admits; the API server still decides, the snippet only
saves a 403.
"""

from __future__ import annotations

import json

from ..model.identities import GitlabIdentity
from ..model.oidc_credential import INSTALL_COMMAND as INSTALL
from ..model.spec import Project, Spec


def gitlab_oidc_snippet(spec: Spec, project: Project, identity: GitlabIdentity) -> str:
    aud = identity.issuer.audience
    lines = [
        f"# GitLab CI job for project {project.name}, keyless: `runnerkit snippet gitlab {project.name}`.",
        f"# It authenticates as {identity.project_path} with its own ID token (issuer {identity.issuer.name});",
        "# nothing is stored. Set CI/CD variables KUBE_SERVER (API server URL) and KUBE_CA (its CA, PEM;",
        "# not secret). The API server must run runnerkit's authentication config (docs/oidc.md).",
        "deploy:",
        "  image: python:3.12",
    ]
    if identity.environments:
        lines.append(f"  environment: {json.dumps(identity.environments[0])}")
    lines += [
        "  id_tokens:",
        "    RUNNERKIT_ID_TOKEN:",
        f"      aud: {json.dumps(aud)}",
        "  script:",
        f"    - {INSTALL}",
        "    - printf '%s\\n' \"$KUBE_CA\" > kube-ca.crt",
        f"    - runnerkit credential kubeconfig gitlab --audience {json.dumps(aud)} --server \"$KUBE_SERVER\""
        f" --ca-file kube-ca.crt -n {project.namespace} --to kubeconfig",
        "    - export KUBECONFIG=\"$PWD/kubeconfig\"",
        "    - kubectl auth whoami",
        f"    # your deployment, e.g.: helm upgrade --install {project.name} ./chart --wait",
    ]
    if identity.refs:
        var = "CI_COMMIT_TAG" if identity.ref_type == "tag" else "CI_COMMIT_BRANCH"
        lines += ["  rules:"] + [f"    - if: '${var} == {json.dumps(r)}'" for r in identity.refs]
    elif identity.ref_type:
        lines += ["  rules:", f"    - if: '${'CI_COMMIT_TAG' if identity.ref_type == 'tag' else 'CI_COMMIT_BRANCH'}'"]
    if identity.protected:
        lines.insert(4, "# The ref must be protected (Settings > Repository > Protected branches/tags).")
    return "\n".join(lines) + "\n"
