"""Before a namespace is deleted: does it hold anything runnerkit did not put there?

Deleting a namespace deletes everything in it. runnerkit only deletes namespaces it labelled, and
even then refuses (unless --force) when a list of the common kinds finds objects it does not
manage: a team's ConfigMaps, Secrets, workloads or volumes.
"""

from __future__ import annotations

from ..errors import Forbidden, InputError, NotFound
from ..model.kinds import BY_KIND, CONFIG_MAP, DEPLOYMENT, SECRET, Kind
from ..model.objects import MANAGED_BY, SPEC_LABEL
from .protocol import Client

# What teams keep in a namespace.
CONTENT_KINDS = (
    CONFIG_MAP,
    SECRET,
    Kind("PersistentVolumeClaim", "v1", "persistentvolumeclaims", True, 0),
    Kind("Pod", "v1", "pods", True, 0),
    Kind("Service", "v1", "services", True, 0),
    BY_KIND["ServiceAccount"],
    DEPLOYMENT,
    Kind("StatefulSet", "apps/v1", "statefulsets", True, 0),
    Kind("Job", "batch/v1", "jobs", True, 0),
    Kind("CronJob", "batch/v1", "cronjobs", True, 0),
    BY_KIND["Role"],
    BY_KIND["RoleBinding"],
)
# Made by Kubernetes itself in every namespace.
BUILT_IN = {("ConfigMap", "kube-root-ca.crt"), ("ServiceAccount", "default")}
SHOWN = 10


def foreign_contents(client: Client, namespaces: list[str], spec_name: str) -> dict[str, list[str]]:
    """namespace -> `kind/name` of every listed object there that this spec does not manage.

    One list per kind: cluster-wide when several namespaces are checked (a prune of half of 500
    projects costs 12 requests, not 3 000), per namespace for one, or when the caller may not list
    cluster-wide."""
    wanted = set(namespaces)

    def items_of(kind: Kind) -> list[dict]:
        try:
            if len(wanted) == 1:
                return client.list_objects(kind, None, next(iter(wanted)))
            try:
                return client.list_objects(kind)
            except Forbidden:  # may delete the namespaces but not list everywhere: one list each
                return [i for n in sorted(wanted) for i in client.list_objects(kind, None, n)]
        except NotFound:
            return []

    found: dict[str, list[str]] = {}
    for kind, items in zip(CONTENT_KINDS, client.parallel(items_of, CONTENT_KINDS)):
        for item in items:
            meta = item.get("metadata") or {}
            labels = meta.get("labels") or {}
            ours = labels.get(MANAGED_BY) == "runnerkit" and labels.get(SPEC_LABEL) == spec_name
            if meta.get("namespace") in wanted and not ours and (kind.kind, meta.get("name")) not in BUILT_IN:
                found.setdefault(meta["namespace"], []).append(f"{kind.kind.lower()}/{meta.get('name')}")
    return found


def refuse_foreign(client: Client, namespaces: list[str], spec_name: str, flag: str) -> None:
    """Raise (before any write) when a namespace about to be deleted holds others' objects."""
    problems = []
    contents = foreign_contents(client, namespaces, spec_name) if namespaces else {}
    for namespace in namespaces:
        found = contents.get(namespace)
        if found:
            more = f" and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
            problems.append(f"namespace {namespace} holds objects runnerkit does not manage: "
                            f"{', '.join(found[:SHOWN])}{more}")
    if problems:
        raise InputError("; ".join(problems) + f"; deleting it deletes them too: move them out, or pass "
                         f"{flag} --force if you mean it (nothing was changed)")
