"""Is GitLab project isolation enforced? Asked of the live API server, not inferred from RBAC.

For each tenant with `gitlab.projectIds`/`groups`: its ValidatingAdmissionPolicy and binding must
exist as runnerkit renders them, and two server-side dry-run pod creations, sent as the runner
manager (impersonated), must go the right way: a pod labelled as the tenant's own job is admitted,
one labelled as another project's job is refused with runnerkit's message. Dry runs go through
admission (the policy included) and persist nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..cluster.protocol import Client
from ..errors import ApiError, NotFound
from ..model.kinds import BY_KIND
from ..model.spec import Project, Spec
from .isolation import (ID_LABEL, NAMESPACE_LABEL, ROOT_NAMESPACE_LABEL, isolation_projects, manager_username,
                        policy_name, render_isolation, sanitize_label)

ENFORCED, MISSING, CHANGED, NOT_ENFORCED, UNSUPPORTED, UNPROVEN = (
    "enforced", "missing", "changed", "not enforced", "not enforced (cluster < 1.30)", "unproven")
FOREIGN_PROJECT_ID = "0"  # GitLab project IDs start at 1: no tenant can declare this one
SETTLE_SECONDS = 5.0  # a policy written a moment ago is compiled and picked up asynchronously


@dataclass(frozen=True)
class IsolationCheck:
    project: str
    namespace: str
    status: str
    detail: str

    @property
    def ok(self) -> bool:
        return self.status == ENFORCED

    def to_dict(self) -> dict:
        return {"project": self.project, "namespace": self.namespace, "status": self.status, "detail": self.detail}


def own_job_labels(p: Project) -> dict[str, str]:
    """The labels gitlab-runner puts on a job pod of one of the tenant's own projects."""
    if p.gitlab.project_ids:
        return {ID_LABEL: str(p.gitlab.project_ids[0]), NAMESPACE_LABEL: "runnerkit-probe",
                ROOT_NAMESPACE_LABEL: "runnerkit-probe"}
    path = p.gitlab.groups[0].strip("/")
    return {ID_LABEL: "1", NAMESPACE_LABEL: sanitize_label(path),
            ROOT_NAMESPACE_LABEL: sanitize_label(path.split("/", 1)[0])}


def foreign_job_labels() -> dict[str, str]:
    return {ID_LABEL: FOREIGN_PROJECT_ID, NAMESPACE_LABEL: "runnerkit-probe-other",
            ROOT_NAMESPACE_LABEL: "runnerkit-probe-other"}


PROBE_RESOURCES = {"cpu": "10m", "memory": "16Mi"}


def probe_pod(labels: dict[str, str]) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"generateName": "runnerkit-isolation-probe-", "labels": labels},
            "spec": {"automountServiceAccountToken": False,
                     # Requests and limits: a namespace with a ResourceQuota refuses pods without them.
                     "containers": [{"name": "probe", "image": "registry.invalid/runnerkit-probe",
                                     "resources": {"requests": PROBE_RESOURCES, "limits": PROBE_RESOURCES}}]}}


def check_isolation(client: Client, spec: Spec) -> list[IsolationCheck]:
    """One list call per policy kind, then two dry-run pod creations per tenant whose policy is intact."""
    projects = isolation_projects(spec)
    if not projects:
        return []
    desired = {(o["kind"], o["metadata"]["name"]): o for o in render_isolation(spec)}
    live: dict[tuple, dict] = {}
    for kind in ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"):
        try:
            items = client.list_objects(BY_KIND[kind])
        except NotFound:
            return [IsolationCheck(p.name, p.namespace, UNSUPPORTED,
                                   "the cluster does not serve ValidatingAdmissionPolicy (Kubernetes >= 1.30)")
                    for p in projects]
        live.update(((kind, o["metadata"]["name"]), o) for o in items)
    return client.parallel(lambda p: _check(client, spec.name, p, desired, live), projects)


def _check(client: Client, spec_name: str, p: Project, desired: dict, live: dict) -> IsolationCheck:
    name = policy_name(spec_name, p)
    for kind in ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"):
        obj = live.get((kind, name))
        if obj is None:
            return IsolationCheck(p.name, p.namespace, MISSING, f"{kind.lower()}/{name} does not exist: run "
                                  "`runnerkit apply`")
        if not _contains(desired[(kind, name)]["spec"], obj.get("spec")):
            return IsolationCheck(p.name, p.namespace, CHANGED, f"{kind.lower()}/{name} differs from "
                                  "runnerkit.yaml (edited by hand?): run `runnerkit apply`")
    manager = client.impersonating(manager_username(p))
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:  # retried while the answers may still change (policy compiling, RBAC cache catching up)
        own = _admitted(manager, p.namespace, own_job_labels(p))
        foreign = _admitted(manager, p.namespace, foreign_job_labels())
        if (own is True and foreign is not True) or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    if isinstance(own, str):
        return IsolationCheck(p.name, p.namespace, UNPROVEN,
                              f"the runner manager's own-project pod was refused: {own}")
    if foreign is True:
        return IsolationCheck(p.name, p.namespace, NOT_ENFORCED,
                              f"a pod labelled as project {FOREIGN_PROJECT_ID} was admitted")
    if "runnerkit:" not in str(foreign):
        return IsolationCheck(p.name, p.namespace, UNPROVEN,
                              f"the foreign pod was refused, but not by the isolation policy: {foreign}")
    return IsolationCheck(p.name, p.namespace, ENFORCED,
                          f"as {manager_username(p)}: own project admitted, project {FOREIGN_PROJECT_ID} denied")


def _admitted(client: Client, namespace: str, labels: dict[str, str]) -> bool | str:
    """True when a dry-run creation passes admission, else the server's refusal."""
    try:
        client.request("POST", f"/api/v1/namespaces/{namespace}/pods", query={"dryRun": "All"},
                       body=probe_pod(labels))
        return True
    except ApiError as e:
        return str(e)


def _contains(want: Any, got: Any) -> bool:
    """Every field runnerkit sets is there with the same value (the server adds defaults)."""
    if isinstance(want, dict):
        return isinstance(got, dict) and all(k in got and _contains(v, got[k]) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(got, list) and len(want) == len(got) and all(map(_contains, want, got))
    return want == got
