"""`runnerkit doctor`: from inside a job (or with --as), find out why kubectl/helm fail: who am I,
can I reach and trust the API server, which namespace will I act in, and may I do what I need?
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timezone

from . import doctor_tls
from .doctor_rules import (FAIL, OK, SKIP, WARN, Need, DoctorCheck, Target, grant_fix, merged_kubeconfig,
                           namespace_results, parse_need, self_review_result, token_results)
from ..errors import ApiError, Forbidden, InputError, Unauthorized
from ..cluster.config import load_kubeconfigs
from ..cluster.kubeconfig_check import paths as kubeconfig_paths
from ..cluster.incluster import SA_DIR, PodAccount, TokenFacts, pod_account, token_claims, token_facts
from ..model.rbac import Access, parse_service_account_user
from ..model.spec import Spec
from ..cluster.protocol import Client

REVIEW_VERSIONS = ("v1", "v1beta1", "v1alpha1")  # SelfSubjectReview: GA in 1.28, beta 1.27, alpha 1.26
SECTION_ORDER = ("pod", "credentials", "connection", "identity", "namespace", "needs", "access")


@dataclass
class Options:
    kubeconfig: str | None = None
    context: str | None = None
    as_user: str | None = None
    needs: tuple[str, ...] = ()
    namespace: str | None = None
    spec: Spec | None = None  # a loaded Spec, to name the project in fixes


@dataclass
class DoctorReport:
    results: list[DoctorCheck] = field(default_factory=list)
    identity: dict = field(default_factory=dict)
    target: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(r.status != FAIL for r in self.results)

    def add(self, section: str, status: str, message: str, fix: str = "", details: list[str] | None = None) -> None:
        self.results.append(DoctorCheck(section, status, message, fix, details or []))

    def ordered(self) -> list[DoctorCheck]:
        """Results grouped by section in reading order (checks run in another order)."""
        return sorted(self.results, key=lambda r: SECTION_ORDER.index(r.section))

    def to_dict(self) -> dict:
        return {"ok": self.ok, "identity": self.identity, "target": self.target,
                "checks": [r.to_dict() for r in self.ordered()]}


def run(options: Options) -> DoctorReport:
    needs = [parse_need(n) for n in options.needs]  # bad input fails before any network
    as_sa = None
    if options.as_user:
        as_sa = parse_service_account_user(options.as_user)
        if not as_sa:
            raise InputError(f"--as {options.as_user!r}: write system:serviceaccount:NAMESPACE:NAME")
    report = DoctorReport()
    pod = pod_account()
    pod_ns = pod.namespace()
    sa = _pod_identity(report, pod, pod_ns) if not as_sa else None

    paths = [str(p) for p in kubeconfig_paths(options.kubeconfig, strict=False)]
    if paths:
        target = merged_kubeconfig(load_kubeconfigs(paths), options.context)
    elif options.context:
        raise InputError("--context needs a kubeconfig (--kubeconfig, KUBECONFIG or ~/.kube/config)")
    elif pod.host and pod.token_file.exists():
        try:
            ca = pod.ca_file.read_bytes()
        except OSError:
            ca = None
        target = Target("in-cluster", pod.server, ca, str(pod.ca_file), namespace=pod_ns)
    else:
        report.add("credentials", FAIL, "no cluster credentials: no kubeconfig (--kubeconfig, KUBECONFIG, "
                   "~/.kube/config) and no in-cluster ServiceAccount (KUBERNETES_SERVICE_HOST and a mounted "
                   "token)", "inside a job pod, mount a ServiceAccount token (automountServiceAccountToken: "
                   "true on the project's ServiceAccount, which `runnerkit apply` sets when the spec says so)")
        return report
    report.target = {"source": target.source, "server": target.server, "ca": target.ca_source,
                     "context": target.context, "kubeconfig": list(target.paths) or None}
    _credentials(report, target, pod, sa)
    if target.problem or not target.server:
        report.add("credentials", FAIL, f"kubeconfig {', '.join(target.paths)}: "
                   + (target.problem or f"cluster of context {target.context!r} has no server"),
                   "pick a context with --context, or point KUBECONFIG at a complete file (`runnerkit kubeconfig`)")
        return report
    if target.source == "kubeconfig" and target.token and not as_sa:
        sa = _kubeconfig_identity(report, target) or sa

    namespace, results = namespace_results(target, options.namespace, dict(os.environ), pod_ns)
    if not _connection(report, target, pod):
        report.results += results
        report.add("access", SKIP, "API checks skipped: no trusted connection to the API server")
        return report

    client = _client(options, target)
    if as_sa:
        sa = as_sa
        namespace = options.namespace or as_sa[0]
        report.identity = {"user": options.as_user, "namespace": as_sa[0], "serviceAccount": as_sa[1],
                           "source": "--as (SubjectAccessReview)"}
        results = [DoctorCheck("namespace", OK, f"checking namespace {namespace}"
                          + (": you passed -n" if options.namespace else ": the ServiceAccount's own (-n to change)"))]
        if not _service_account_exists(report, client, *as_sa):
            report.results += results
            return report
    elif not _authenticated(report, client, target):
        report.results += results
        return report
    else:
        _self_review(report, client, sa)
    report.results += results
    if needs:
        _needs(report, client, needs, namespace, options, sa)
    return report


# -- identity -------------------------------------------------------------------------------------------


def _pod_identity(report: DoctorReport, pod: PodAccount, pod_ns: str | None) -> tuple[str, str] | None:
    if not pod.token_file.exists():
        if pod.host:
            report.add("pod", FAIL, f"no ServiceAccount token at {pod.token_file}",
                       "automountServiceAccountToken is false on the pod or its ServiceAccount; set it to true "
                       "on the project's ServiceAccount (runnerkit.yaml automountServiceAccountToken: true)")
        return None
    try:
        facts = token_facts(token_claims(pod.token()))
    except (InputError, OSError) as e:
        report.add("pod", FAIL, f"the mounted token cannot be read: {e}")
        return None
    for r in token_results(facts, datetime.now(timezone.utc), pod_ns):
        r.section = "pod"
        report.results.append(r)
    report.identity = _identity_dict(facts, f"mounted token {pod.token_file}")
    return (facts.namespace, facts.service_account) if facts.namespace and facts.service_account else None


def _identity_dict(facts: TokenFacts, source: str) -> dict:
    return {"serviceAccount": facts.service_account, "namespace": facts.namespace,
            "user": f"system:serviceaccount:{facts.namespace}:{facts.service_account}",
            "token": "legacy" if facts.legacy else "bound",
            "expires": facts.expires.strftime("%Y-%m-%dT%H:%M:%SZ") if facts.expires else None,
            "audiences": list(facts.audiences), "source": source}


def _kubeconfig_identity(report: DoctorReport, target: Target) -> tuple[str, str] | None:
    try:
        facts = token_facts(token_claims(target.token or ""))
    except InputError:
        return None  # an opaque bearer token: the API server's answer is all there is
    if not facts.service_account or not facts.namespace:
        return None
    for r in token_results(facts, datetime.now(timezone.utc), None):
        report.results.append(r)
    report.identity = _identity_dict(facts, f"kubeconfig user {target.user!r}")
    return facts.namespace, facts.service_account


def _credentials(report: DoctorReport, target: Target, pod: PodAccount, sa: tuple[str, str] | None) -> None:
    if target.source == "in-cluster":
        report.add("credentials", OK, f"kubectl and helm use the in-cluster config: the token and ca.crt in "
                   f"{pod.token_file.parent}, server {target.server} (KUBERNETES_SERVICE_HOST/PORT)")
        return
    note = ""
    if sa:
        note = "; not the pod's mounted ServiceAccount"
    report.add("credentials", OK, f"kubectl and helm use kubeconfig {os.pathsep.join(target.paths)}, context "
               f"{target.context!r}, user {target.user!r}{note}")


# -- connection -----------------------------------------------------------------------------------------


def _wrong_ca_fix(target: Target, pod: PodAccount) -> str:
    """helm's `x509: certificate signed by unknown authority`: which CA would work, and how to use it."""
    if target.source == "in-cluster":
        return ("the mounted ca.crt did not sign the certificate of this server: KUBERNETES_SERVICE_HOST/PORT "
                "probably point at a proxy or load balancer with its own certificate; use "
                "https://kubernetes.default.svc, or give its CA to the tools (helm --kube-ca-file FILE, a "
                "kubeconfig's certificate-authority)")
    mounted = pod.ca_file
    try:
        works = mounted.is_file() and doctor_tls.probe(target.server or "", mounted.read_bytes()).verified
    except (OSError, ValueError):
        works = False
    if works:
        return (f"this is helm's `x509: certificate signed by unknown authority`: the kubeconfig's CA is wrong, "
                f"and the pod's mounted {mounted} does verify the server. `eval \"$(runnerkit kubeconfig)\"` writes "
                f"a kubeconfig that uses it; for helm alone pass --kube-ca-file {mounted}")
    return ("this is helm's `x509: certificate signed by unknown authority`: set the kubeconfig's "
            "certificate-authority to the cluster's CA (inside a pod, `eval \"$(runnerkit kubeconfig)\"` uses the "
            f"mounted one; for helm alone pass --kube-ca-file {SA_DIR}/ca.crt)")


def _connection(report: DoctorReport, target: Target, pod: PodAccount) -> bool:
    try:
        probe = doctor_tls.probe(target.server or "", target.ca_pem, insecure=target.insecure)
    except ValueError as e:
        report.add("connection", FAIL, f"server {e}", "the server must be https://HOST[:PORT]")
        return False
    if not probe.reachable:
        report.add("connection", FAIL, f"API server {target.server}: {probe.message}",
                   "check the server address, DNS, network policies and proxies between the job and the API "
                   "server" + (" (in a pod: KUBERNETES_SERVICE_HOST/PORT)" if target.source == "in-cluster" else ""))
        return False
    report.add("connection", OK, f"API server {target.server} is reachable")
    if target.insecure:
        report.add("connection", WARN, "TLS not verified: the kubeconfig sets insecure-skip-tls-verify",
                   "set certificate-authority to the cluster CA instead (`runnerkit kubeconfig` does)")
        return True
    if probe.verified:
        report.add("connection", OK, f"TLS certificate verified with {target.ca_source}")
        return True
    fixes = {
        "wrong-ca": _wrong_ca_fix(target, pod),
        "hostname": f"connect with a name the certificate lists (in a pod: https://kubernetes.default.svc or "
                    f"$KUBERNETES_SERVICE_HOST, which `runnerkit kubeconfig` uses), pass helm "
                    f"--kube-tls-server-name {probe.sans[0] if probe.sans else 'NAME'}, or add {probe.host} to the "
                    f"API server certificate's SANs",
        "bad-ca": f"{target.ca_source} must hold the cluster's CA certificate(s) in PEM",
        "expired": "the API server's serving certificate must be renewed by the cluster administrator",
    }
    report.add("connection", FAIL, f"TLS: {probe.message} (CA from {target.ca_source})",
               fixes.get(probe.problem or "", "check the API server address and the CA"))
    return False


def _client(options: Options, target: Target) -> Client:
    from ..cluster import client as kube

    if target.source == "in-cluster":
        return kube.connect_in_cluster()
    single = target.paths[0] if len(target.paths) == 1 else None
    return kube.connect(single, options.context)


def _authenticated(report: DoctorReport, client: Client, target: Target) -> bool:
    try:
        client.self_can("get", "pods", "default")
    except Unauthorized:
        aud = report.identity.get("audiences") or []
        hint = ("the token expired or was revoked (its ServiceAccount, Secret or pod was deleted), or it "
                "belongs to another cluster")
        if aud and not any("kubernetes" in a or a.startswith("https://") for a in aud):
            hint = f"the token's audience {', '.join(aud)} is not the API server's: mint one without --audience"
        report.add("identity", FAIL, "the API server rejected the credentials (401 Unauthorized)", hint)
        return False
    except Forbidden:
        report.add("identity", FAIL, "the API server treats these credentials as anonymous (403 on a "
                   "SelfSubjectAccessReview)", "the kubeconfig user carries no token or certificate")
        return False
    except ApiError as e:
        report.add("identity", FAIL, f"the API server answered: {e}")
        return False
    report.add("identity", OK, "the API server accepts the credentials")
    return True


def _self_review(report: DoctorReport, client: Client, sa: tuple[str, str] | None) -> None:
    # Discovery first: on servers without the API, RBAC answers a POST with 403 before routing could 404.
    for version in REVIEW_VERSIONS:
        try:
            served = client.served_resources(f"authentication.k8s.io/{version}")
            if not served or "selfsubjectreviews" not in served:
                continue
            answer = client.request("POST", f"/apis/authentication.k8s.io/{version}/selfsubjectreviews",
                                    body={"apiVersion": f"authentication.k8s.io/{version}",
                                          "kind": "SelfSubjectReview"})
        except ApiError as e:
            report.add("identity", SKIP, f"SelfSubjectReview failed: {e}")
            return
        user, status, message, fix = self_review_result(answer, sa)
        report.identity.setdefault("user", user)
        report.add("identity", status, message, fix)
        return
    report.add("identity", SKIP, "SelfSubjectReview is not served (Kubernetes < 1.26): identity taken from "
               "the token's claims" if sa else "SelfSubjectReview is not served (Kubernetes < 1.26)")


def _service_account_exists(report: DoctorReport, client: Client, namespace: str, name: str) -> bool:
    from ..model.kinds import BY_KIND

    try:
        found = client.get(BY_KIND["ServiceAccount"], name, namespace)
    except Forbidden:
        report.add("identity", SKIP, f"cannot check that ServiceAccount {namespace}/{name} exists (forbidden)")
        return True
    except ApiError as e:
        report.add("identity", FAIL, f"the API server answered: {e}")
        return False
    if found is None:
        report.add("identity", FAIL, f"ServiceAccount {name} does not exist in namespace {namespace}",
                   "create it: declare the project in runnerkit.yaml and `runnerkit apply`")
        return False
    report.add("identity", OK, f"ServiceAccount {namespace}/{name} exists; checking its rights with "
               "SubjectAccessReviews")
    return True


# -- needs ----------------------------------------------------------------------------------------------


def _needs(report: DoctorReport, client: Client, needs: list[Need], namespace: str, options: Options,
           sa: tuple[str, str] | None) -> None:
    distinct = list(dict.fromkeys(a for need in needs for a in need.accesses))  # one review per question

    def allowed(a: Access) -> bool:
        ns = None if a.cluster_scoped else namespace
        if options.as_user:
            return client.can(options.as_user, a.verb, a.resource, ns, a.group, a.name)
        return client.self_can(a.verb, a.resource, ns, a.group, a.name)

    try:
        verdict = dict(zip(distinct, client.parallel(allowed, distinct)))
    except Forbidden as e:
        report.add("needs", FAIL, f"cannot check permissions: {e}",
                   "--as needs a kubeconfig identity allowed to create subjectaccessreviews")
        return
    project = _project_for(options.spec, sa)
    for need in needs:
        missing = [a for a in need.accesses if not verdict[a]]
        where = f"in namespace {namespace}" if not all(a.cluster_scoped for a in need.accesses) else "cluster-wide"
        label = need.label + (f" (preset: {len(need.accesses)} permissions)" if need.preset else "")
        if need.cluster_role:
            label = f"{need.label} (ClusterRole {need.cluster_role}, sampled)"
        if not missing:
            report.add("needs", OK, f"{label} {where}")
            continue
        listed = (", ".join(a.text() for a in missing) if len(missing) <= 6
                  else f"{len(missing)} of {len(need.accesses)} permissions")
        report.add("needs", FAIL, f"{label} {where}: missing {listed}",
                   details=grant_fix(need, missing, project, sa[0] if sa else None, namespace))


def _project_for(spec: Spec | None, sa: tuple[str, str] | None) -> str | None:
    if spec is None or sa is None:
        return None
    for p in spec.projects:
        if (p.namespace, p.service_account) == sa:
            return p.name
    return None
