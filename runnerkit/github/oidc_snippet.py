"""The CI snippet for a keyless GitHub identity: a GitHub Actions job that reaches its project's
namespace with its own OIDC ID token through the setup-kube action's OIDC mode (nothing stored).

The job's conditions mirror the identity (refs, environment, reusable workflow), so the snippet as
printed is a job the cluster admits; the API server still decides, the snippet only saves a 403.
"""

from __future__ import annotations

import json

from ..model.identities import TRUST_HINT, GithubIdentity
from ..model.spec import Project, Spec
from .snippets import ACTION_PATH


def github_oidc_snippet(spec: Spec, project: Project, identity: GithubIdentity) -> str:
    aud = identity.issuer.audience
    lines = [
        f"# GitHub Actions job for project {project.name}, keyless: `runnerkit snippet github {project.name}`.",
        f"# It authenticates as {identity.repository} with its own OIDC ID token (issuer {identity.issuer.name});",
        "# nothing is stored. Before the first run:",
        "#  - write the setup-kube action into the repository (it ships with runnerkit):",
        "#    `runnerkit export github-action .github/actions/setup-kube`, and commit it;",
        "#  - set repository variables KUBE_SERVER (API server URL) and KUBE_CA (its CA, PEM; not secret).",
        *TRUST_HINT,
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
        "      id: kube",
        f"      uses: {ACTION_PATH}",
        "      with:",
        f"        oidc-audience: {json.dumps(aud)}",
        "        server: ${{ vars.KUBE_SERVER }}",
        "        certificate-authority: ${{ vars.KUBE_CA }}",
        f"        namespace: {project.namespace}",
        "        verify: true",
        "    - name: Deploy",
        "      # kubectl and helm now use $KUBECONFIG: they fetch a fresh ID token whenever the last expired.",
        "      run: |",
        "        kubectl auth whoami",
        f"        # your deployment, e.g.: helm upgrade --install {project.name} ./chart --wait",
    ]
    if identity.workflow:
        lines.insert(lines.index("deploy:"), f"# Only the reusable workflow {identity.workflow} is admitted: call it from here.")
    return "\n".join(lines) + "\n"
