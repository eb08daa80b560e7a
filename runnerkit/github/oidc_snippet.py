"""The CI snippet for a keyless GitHub identity: a GitHub Actions job that reaches its project's
namespace with its own OIDC ID token through `runnerkit credential` (nothing stored).

The job's conditions mirror the identity (refs, environment, reusable workflow), so the snippet as
printed is a job the cluster admits; the API server still decides, the snippet only saves a 403.
"""

from __future__ import annotations

import json

from ..model.identities import GithubIdentity
from ..model.oidc_credential import INSTALL_COMMAND as INSTALL
from ..model.spec import Project, Spec


def github_oidc_snippet(spec: Spec, project: Project, identity: GithubIdentity) -> str:
    aud = identity.issuer.audience
    lines = [
        f"# GitHub Actions job for project {project.name}, keyless: `runnerkit snippet github {project.name}`.",
        f"# It authenticates as {identity.repository} with its own OIDC ID token (issuer {identity.issuer.name});",
        "# nothing is stored. Set repository variables KUBE_SERVER (API server URL) and KUBE_CA (its CA,",
        "# PEM; not secret). The API server must run runnerkit's authentication config (docs/oidc.md).",
        "deploy:",
        "  runs-on: ubuntu-latest",
    ]
    if identity.refs:
        cond = " || ".join(f"github.ref == '{r}'" for r in identity.refs)
        lines.append(f"  if: {json.dumps(cond)}")
    if identity.environments:
        lines.append(f"  environment: {json.dumps(identity.environments[0])}")
    lines += [
        "  permissions:",
        "    contents: read",
        "    id-token: write",
        "  steps:",
        "    - uses: actions/checkout@v4",
        f"    - name: Kubernetes access for {identity.repository} (OIDC)",
        "      env:",
        "        KUBE_SERVER: ${{ vars.KUBE_SERVER }}",
        "        KUBE_CA: ${{ vars.KUBE_CA }}",
        "      run: |",
        f"        {INSTALL}",
        "        printf '%s\\n' \"$KUBE_CA\" > \"$RUNNER_TEMP/kube-ca.crt\"",
        f"        runnerkit credential kubeconfig github --audience {json.dumps(aud)} --server \"$KUBE_SERVER\" \\",
        f"          --ca-file \"$RUNNER_TEMP/kube-ca.crt\" -n {project.namespace} --to \"$RUNNER_TEMP/kubeconfig\"",
        "        echo \"KUBECONFIG=$RUNNER_TEMP/kubeconfig\" >> \"$GITHUB_ENV\"",
        "    - name: Deploy",
        "      run: |",
        "        kubectl auth whoami",
        f"        # your deployment, e.g.: helm upgrade --install {project.name} ./chart --wait",
    ]
    if identity.workflow:
        lines.insert(4, f"# Only the reusable workflow {identity.workflow} is admitted: call it from here.")
    return "\n".join(lines) + "\n"
