"""The fallback for API servers without structured authentication: the single-issuer --oidc-* flags,
and the same settings as EKS's OIDC identity provider (`aws eks associate-identity-provider-config`).

Both map a token to the user PREFIX + sub and no groups, and can require claims to equal one value
each. An issuer with `authentication: oidc-flags` is validated down to what that can express
(identities.py), bound as users (mapping.flag_usernames), and rendered here. Pure.
"""

from __future__ import annotations

from ..errors import InputError
from .identities import Issuer
from .mapping import required_claims
from .spec import Spec

SHARED_LIMITS = (
    "one issuer per API server, and not together with --authentication-config",
    "no groups: each identity is bound as the user PREFIX + the token's sub",
)
GITHUB_LIMITS = (
    "the sub claim is the only fact mapped: repository and organization admins can customize it "
    "(PUT /repos/OWNER/REPO/actions/oidc/customization/sub); keep GitHub's default, or the usernames "
    "change (and a customized sub of a pull_request_target job could read repo:R:ref:refs/heads/main)",
    "an environment identity admits every job that deploys to the environment, pull requests "
    "included (validate asks for pullRequest: true to say so): restrict the environment to protected "
    "branches in GitHub; a ref identity admits only jobs without an environment",
    "pull_request_target jobs run with the base branch's ref: whether GitHub gives them the sub "
    "repo:R:pull_request or repo:R:ref:REF is not pinned here; grant id-token: write to no "
    "pull_request_target workflow of a repository with a ref identity",
    "no reusable-workflow pin (job_workflow_ref), no ref and environment together, one owner",
)
GITLAB_LIMITS = (
    "only protected refs authenticate (ref_protected=true is required of every token)",
    "only projects directly in the group authenticate (namespace_path is compared exactly), "
    "no environments",
    "the sub claim is the only fact mapped, and a project's sub can be customized through GitLab's "
    "projects API; keep the default, or the usernames change and jobs get 403",
)


def issuer_of(spec: Spec, what: str) -> tuple[int, Issuer]:
    """The spec's one oidc-flags issuer (validation allows no other issuer beside it)."""
    for index, issuer in enumerate(spec.issuers.values()):
        if issuer.flags:
            return index, issuer
    raise InputError(f"{spec.path}: --format {what} needs an issuer with authentication: oidc-flags "
                     "(its identities are then bound as users); "
                     + ("the spec declares no issuers" if not spec.issuers else
                        "this spec's issuers use structured authentication: render --format "
                        "authentication-config instead, or set authentication: oidc-flags on the "
                        "one issuer and apply again"))


def limits(issuer: Issuer) -> list[str]:
    return list(SHARED_LIMITS) + list(GITHUB_LIMITS if issuer.type == "github" else GITLAB_LIMITS)


def ca_file(issuer: Issuer) -> str:
    return f"/etc/kubernetes/pki/oidc-{issuer.name}-ca.crt"


def apiserver_flags(spec: Spec) -> dict:
    index, issuer = issuer_of(spec, "oidc-flags")
    flags = [f"--oidc-issuer-url={issuer.url}", f"--oidc-client-id={issuer.audience}",
             "--oidc-username-claim=sub", f"--oidc-username-prefix={issuer.prefix}"]
    flags += [f"--oidc-required-claim={k}={v}" for k, v in required_claims(issuer).items()]
    out: dict = {"issuer": issuer.name, "flags": flags, "limits": limits(issuer)}
    if issuer.certificate_authority:
        flags.append(f"--oidc-ca-file={ca_file(issuer)}")
        out["caFile"] = {"path": ca_file(issuer), "from": f"issuers[{index}].certificateAuthority"}
    return out


def flags_text(rendered: dict, spec: Spec) -> str:
    lines = [f"# kube-apiserver flags for issuer {rendered['issuer']} of {spec.path} (authentication: "
             "oidc-flags); they replace --authentication-config"]
    lines += rendered["flags"]
    if "caFile" in rendered:
        lines.append(f"# write {rendered['caFile']['from']} to {rendered['caFile']['path']} on every "
                     "control-plane node")
    lines.append("# what these flags cannot express (authentication: structured, Kubernetes 1.30+, can):")
    lines += [f"# - {limit}" for limit in rendered["limits"]]
    return "\n".join(lines) + "\n"


def eks_identity_provider(spec: Spec) -> dict:
    """Input for `aws eks associate-identity-provider-config --cluster-name C --cli-input-json`."""
    index, issuer = issuer_of(spec, "eks-identity-provider")
    if issuer.certificate_authority:
        raise InputError(f"{spec.path}: issuers[{index}].certificateAuthority: EKS accepts only issuers "
                         "with a publicly trusted certificate; remove it, or use the --oidc-* flags on "
                         "an API server you run")
    return {"oidc": {"identityProviderConfigName": f"runnerkit-{issuer.name}", "issuerUrl": issuer.url,
                     "clientId": issuer.audience, "usernameClaim": "sub",
                     "usernamePrefix": issuer.prefix, "requiredClaims": required_claims(issuer)},
            "tags": {"app.kubernetes.io/managed-by": "runnerkit", "runnerkit.io/spec": spec.name}}
