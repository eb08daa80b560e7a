"""Before a namespace is deleted: does it hold anything runnerkit did not put there?

Deleting a namespace deletes everything in it. runnerkit only deletes namespaces it labelled, and
even then refuses (unless --force) when a list of the common kinds finds objects it does not
manage: a team's ConfigMaps, Secrets, workloads or volumes.
"""

from __future__ import annotations

from ..errors import InputError, NotFound
from ..model.kinds import CONFIG_MAP, DEPLOYMENT, SECRET, Kind
from ..model.objects import MANAGED_BY, SPEC_LABEL
from .protocol import Client

# What teams keep in a namespace; one list call each per namespace to delete.
CONTENT_KINDS = (
    CONFIG_MAP,
    SECRET,
    Kind("PersistentVolumeClaim", "v1", "persistentvolumeclaims", True, 0),
    Kind("Pod", "v1", "pods", True, 0),
    Kind("Service", "v1", "services", True, 0),
    Kind("ServiceAccount", "v1", "serviceaccounts", True, 0),
    DEPLOYMENT,
    Kind("StatefulSet", "apps/v1", "statefulsets", True, 0),
    Kind("Job", "batch/v1", "jobs", True, 0),
    Kind("CronJob", "batch/v1", "cronjobs", True, 0),
    Kind("Role", "rbac.authorization.k8s.io/v1", "roles", True, 0),
    Kind("RoleBinding", "rbac.authorization.k8s.io/v1", "rolebindings", True, 0),
)
# Made by Kubernetes itself in every namespace.
BUILT_IN = {("ConfigMap", "kube-root-ca.crt"), ("ServiceAccount", "default")}
SHOWN = 10


def foreign_contents(client: Client, namespace: str, spec_name: str) -> list[str]:
    """`kind/name` of every listed object in the namespace that this spec does not manage."""
    def one(kind: Kind) -> list[str]:
        try:
            items = client.request("GET", kind.collection_path(namespace)).get("items") or []
        except NotFound:
            return []
        out = []
        for item in items:
            meta = item.get("metadata") or {}
            labels = meta.get("labels") or {}
            ours = labels.get(MANAGED_BY) == "runnerkit" and labels.get(SPEC_LABEL) == spec_name
            if not ours and (kind.kind, meta.get("name")) not in BUILT_IN:
                out.append(f"{kind.kind.lower()}/{meta.get('name')}")
        return out

    return [name for names in client.parallel(one, CONTENT_KINDS) for name in names]


def refuse_foreign(client: Client, namespaces: list[str], spec_name: str, flag: str) -> None:
    """Raise (before any write) when a namespace about to be deleted holds others' objects."""
    problems = []
    for namespace in namespaces:
        found = foreign_contents(client, namespace, spec_name)
        if found:
            more = f" and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
            problems.append(f"namespace {namespace} holds objects runnerkit does not manage: "
                            f"{', '.join(found[:SHOWN])}{more}")
    if problems:
        raise InputError("; ".join(problems) + f"; deleting it deletes them too: move them out, or pass "
                         f"{flag} --force if you mean it (nothing was changed)")
