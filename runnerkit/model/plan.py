"""Desired objects + listed live objects -> the changes apply would make. Pure: no I/O.

An object is unchanged when (a) every field runnerkit sets has the same value live, and (b) the
fingerprint annotation of what runnerkit last applied matches what it would apply now. (a) catches
hand edits of our fields; (b) catches fields we stopped setting, which (a) cannot see.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from ..errors import InputError
from .kinds import kind_of, sort_key
from .objects import MANAGED_BY, SPEC_LABEL, legacy_cluster_name

FINGERPRINT = "runnerkit.io/applied"
CREATE, CONFIGURE, UNCHANGED, PRUNE, KEEP = "created", "configured", "unchanged", "pruned", "kept"
USE = "used"  # an existing namespace runnerkit did not create: used as is, never labelled or deleted
DELETE = "deleted"  # what `runnerkit delete` reports; `pruned` is apply --prune's word


@dataclass(frozen=True)
class Change:
    action: str
    obj: dict  # desired object (with fingerprint), or the live object for prune/keep
    live: dict | None = None

    @property
    def display(self) -> str:
        meta = self.obj["metadata"]
        return kind_of(self.obj).display(meta["name"], meta.get("namespace"))

    @property
    def writes(self) -> bool:
        return self.action in (CREATE, CONFIGURE, PRUNE, KEEP, DELETE)  # a kept namespace loses our labels


def key(obj: dict) -> tuple:
    meta = obj["metadata"]
    return obj["kind"], meta.get("namespace", ""), meta["name"]


def fingerprint(obj: dict) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def with_fingerprint(obj: dict) -> dict:
    meta = dict(obj["metadata"])
    meta["annotations"] = {**meta.get("annotations", {}), FINGERPRINT: fingerprint(obj)}
    return {**obj, "metadata": meta}


def is_subset(want: object, have: object) -> bool:
    if isinstance(want, dict):
        return isinstance(have, dict) and all(k in have and is_subset(v, have[k]) for k, v in want.items())
    if isinstance(want, list):
        return (isinstance(have, list) and len(want) == len(have)
                and all(is_subset(w, h) for w, h in zip(want, have)))
    return want == have


def plan(desired: list[dict], live: list[dict], spec_name: str, *, prune: bool = False,
         prune_namespaces: bool = False, adopt: frozenset[str] = frozenset()) -> list[Change]:
    """`live` holds what the list calls returned: this spec's objects plus every namespace.
    `adopt`: existing namespaces the spec may take over (adoptNamespace: true); any other existing
    namespace without runnerkit's label is used as it is."""
    live_by_key = {key(o): o for o in live}
    changes: list[Change] = []
    wanted = set()
    for obj in desired:
        k = key(obj)
        wanted.add(k)
        current = live_by_key.get(k)
        live_labels = (current or {}).get("metadata", {}).get("labels") or {}
        owner = live_labels.get(SPEC_LABEL) if live_labels.get(MANAGED_BY) == "runnerkit" else None
        if current is not None and owner and owner != spec_name:
            raise InputError(f"{Change(CREATE, obj).display} is managed by runnerkit spec {owner!r}, "
                             f"not {spec_name!r}; rename the project or remove it from one spec")
        stamped = with_fingerprint(obj)
        if (current is not None and obj["kind"] == "Namespace" and not owner
                and obj["metadata"]["name"] not in adopt):
            changes.append(Change(USE, stamped, current))
        elif current is None:
            changes.append(Change(CREATE, stamped))
        elif is_subset(stamped, current):
            changes.append(Change(UNCHANGED, stamped, current))
        else:
            changes.append(Change(CONFIGURE, stamped, current))
    gone = renamed(desired, live, spec_name, wanted)
    changes += gone
    wanted |= {key(c.obj) for c in gone}
    if prune:
        for obj in sorted(live, key=sort_key, reverse=True):
            labels = obj["metadata"].get("labels") or {}
            if key(obj) in wanted or labels.get(SPEC_LABEL) != spec_name or labels.get(MANAGED_BY) != "runnerkit":
                continue
            action = PRUNE if obj["kind"] != "Namespace" or prune_namespaces else KEEP
            changes.append(Change(action, obj, obj))
    return changes


def renamed(desired: list[dict], live: list[dict], spec_name: str, wanted: set) -> list[Change]:
    """This spec's cluster-scoped objects under their names from before names carried the spec:
    pruned by every apply (not only --prune) once the new name is declared, so an upgrade never
    leaves a second ClusterRoleBinding or isolation policy behind. Only objects labelled with this
    spec and named exactly like a declared object minus the spec's name qualify."""
    legacy = {(o["kind"], "", old) for o in desired if not o["metadata"].get("namespace")
              and (old := legacy_cluster_name(spec_name, o["metadata"]["name"]))}
    out = []
    for obj in sorted(live, key=sort_key, reverse=True):
        k = key(obj)
        labels = obj["metadata"].get("labels") or {}
        if (k in legacy and k not in wanted and labels.get(SPEC_LABEL) == spec_name
                and labels.get(MANAGED_BY) == "runnerkit"):
            out.append(Change(PRUNE, obj, obj))
    return out


def released(namespace: dict) -> dict:
    """The apply that takes runnerkit's labels and annotations off a namespace it keeps: server-side
    apply drops the fields runnerkit's field manager set and no longer sends, and nothing else."""
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace["metadata"]["name"]}}


def missing_namespaces(desired: list[dict], live: list[dict]) -> list[tuple[str, str]]:
    """Namespaces that desired objects live in but that neither exist nor are declared."""
    declared = {o["metadata"]["name"] for o in desired if o["kind"] == "Namespace"}
    existing = {o["metadata"]["name"] for o in live if o["kind"] == "Namespace"}
    out: dict[str, str] = {}
    for obj in desired:
        ns = obj["metadata"].get("namespace")
        if ns and ns not in declared and ns not in existing:
            out.setdefault(ns, obj["metadata"]["name"])
    return sorted(out.items())
