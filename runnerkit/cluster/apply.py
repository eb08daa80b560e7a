"""apply / diff / delete: list per kind, plan locally, write only what differs, wave by wave."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from itertools import groupby
from typing import Callable

import yaml

from ..errors import ApiError, InputError, NotFound
from ..model.kinds import KINDS, Kind, kind_of
from .protocol import Client
from ..model.plan import (CONFIGURE, CREATE, DELETE, FINGERPRINT, KEEP, PRUNE, USE, Change, key, missing_namespaces,
                          plan, released)
from ..model.objects import MANAGED_BY, SPEC_LABEL
from .namespace_guard import refuse_foreign

GUARDS = ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")  # written before grants


@dataclass
class ApplyResult:
    changes: list[Change]
    dry_run: bool = False
    requests: int = 0
    writes: int = 0
    notes: list[str] = field(default_factory=list)
    responses: dict[tuple, dict] = field(default_factory=dict)  # what the server returned per object
    strategy: str = "none"  # the dry-run strategy: none, client (nothing sent) or server (dryRun=All)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.changes:
            out[c.action] = out.get(c.action, 0) + 1
        return out

    def to_dict(self) -> dict:
        return {
            "dryRun": self.dry_run,
            "dryRunStrategy": self.strategy,
            "objects": [{"kind": c.obj["kind"], "namespace": c.obj["metadata"].get("namespace"),
                         "name": c.obj["metadata"]["name"], "action": c.action} for c in self.changes],
            "summary": self.counts(),
            "requests": self.requests,
            "writes": self.writes,
            "notes": self.notes,
        }


def read_live(client: Client, desired: list[dict], all_kinds: bool,
              spec_name: str | None = None) -> tuple[list[dict], set[str]]:
    """One list call per kind: every namespace (to check targets exist), and the runnerkit-managed
    objects otherwise, so that an object another spec file owns is refused rather than taken over.

    With `spec_name`, the first lists hold only that spec's objects (a no-op re-apply reads nothing
    else, however many other specs share the cluster). The other specs' objects are listed only for
    kinds with a declared object that is not among them and could exist: cluster-scoped, or in a
    namespace that exists (one more call per such kind; none for projects with new namespaces).

    Returns the objects and the kinds the server does not serve (e.g. ValidatingAdmissionPolicy
    before Kubernetes 1.30)."""
    wanted = {o["kind"] for o in desired} | {"Namespace"}
    kinds = [k for k in KINDS if all_kinds or k.kind in wanted]
    managed = f"{MANAGED_BY}=runnerkit"

    def list_kind(kind: Kind, selector: str) -> list[dict] | None:
        try:
            return client.list_objects(kind, None if kind.kind == "Namespace" else selector)
        except NotFound:
            return None

    own = f"{managed},{SPEC_LABEL}={spec_name}" if spec_name else managed
    live, unserved = [], set()
    for kind, items in zip(kinds, client.parallel(lambda k: list_kind(k, own), kinds)):
        if items is None:
            unserved.add(kind.kind)
        else:
            live += items
    if spec_name:
        found = {key(o) for o in live}
        namespaces = {o["metadata"]["name"] for o in live if o["kind"] == "Namespace"}

        def could_exist(obj: dict) -> bool:  # nothing lives in a namespace that does not exist
            namespace = obj["metadata"].get("namespace")
            return namespace is None or namespace in namespaces

        new = {o["kind"] for o in desired if key(o) not in found and could_exist(o)} - unserved - {"Namespace"}
        others = [k for k in kinds if k.kind in new]
        for items in client.parallel(lambda k: list_kind(k, f"{managed},{SPEC_LABEL}!={spec_name}"), others):
            live += items or []
    return live, unserved


def apply(client: Client, desired: list[dict], spec_name: str, *, dry_run: bool = False,
          prune: bool = False, prune_namespaces: bool = False,
          check: Callable[[set[str]], None] | None = None, adopt: frozenset[str] = frozenset(),
          force: bool = False, client_only: bool = False) -> ApplyResult:
    """`check(unserved_kinds)` runs after the list calls and before any write; it may raise.
    `client_only` (a client-side dry run): list and plan, send no write at all, not even dry-run ones."""
    dry_run = dry_run or client_only
    start = len(client.requests)
    live, unserved = read_live(client, desired, all_kinds=prune, spec_name=spec_name)
    if check:
        check(unserved)
    notes = []
    skipped = [o for o in desired if o["kind"] in unserved]
    if skipped:
        desired = [o for o in desired if o["kind"] not in unserved]
        kinds = sorted({o["kind"] for o in skipped})
        notes.append(f"the cluster does not serve {', '.join(kinds)}: skipped {len(skipped)} object(s)")
    missing = missing_namespaces(desired, live)
    if missing:
        raise InputError("; ".join(f"namespace {ns!r} does not exist (needed by {name})" for ns, name in missing)
                         + ": create it first (kubectl create namespace NAME) or declare it as a "
                         "project's namespace; nothing was changed")
    changes = plan(desired, live, spec_name, prune=prune, prune_namespaces=prune_namespaces, adopt=adopt)
    if not force:
        refuse_foreign(client, _deleted_namespaces(changes), spec_name, "--prune-namespaces")
    if not dry_run and any(c.action == CREATE for c in changes):
        # Something new: what the server would refuse is refused before the first write. Objects in
        # namespaces this run creates cannot be dry-run; the spec loader checked those.
        send(client, [c for c in changes if c.action in (CREATE, CONFIGURE)], dry_run=True)
    responses = {} if client_only else send(client, changes, dry_run)
    if client_only:
        notes.append("client dry run: planned against the listed objects, nothing was sent to the server")
    elif dry_run and any(c.obj["metadata"].get("namespace") in _new_namespaces(changes) for c in changes):
        notes.append("objects in namespaces this run would create were not validated by the server "
                     "(a dry run creates no namespace)")
    if any(c.action == KEEP for c in changes):
        notes.append("namespaces are never deleted without --prune-namespaces: they hold the team's data "
                     "(runnerkit's labels were taken off, so another spec may use them)")
    notes += adoption_notes(changes)
    return ApplyResult(changes, dry_run, len(client.requests) - start,
                       0 if dry_run else sum(c.writes for c in changes), notes, responses,
                       "client" if client_only else "server" if dry_run else "none")


def adoption_notes(changes: list[Change]) -> list[str]:
    notes = []
    for c in changes:
        if c.obj["kind"] != "Namespace" or c.live is None:
            continue
        name = c.obj["metadata"]["name"]
        labels = c.live["metadata"].get("labels") or {}
        if c.action == USE:
            notes.append(f"namespace {name} exists and was not created by runnerkit: used as it is (its "
                         "labels and annotations are left alone, and runnerkit never deletes it); add "
                         "adoptNamespace: true to the project to take it over")
        elif c.action == CONFIGURE and labels.get(MANAGED_BY) != "runnerkit":
            notes.append(f"adopting namespace {name} (adoptNamespace: true): runnerkit labels it as its "
                         "own, and delete --delete-namespaces / apply --prune-namespaces may delete it")
    return notes


def _deleted_namespaces(changes: list[Change]) -> list[str]:
    return [c.obj["metadata"]["name"] for c in changes if c.action in (PRUNE, DELETE) and c.obj["kind"] == "Namespace"]


def send(client: Client, changes: list[Change], dry_run: bool) -> dict[tuple, dict]:
    """Writes wave by wave (isolation policies, namespaces, accounts and roles, then bindings),
    concurrently within a wave, stopping at the first wave that fails; prunes go last, in reverse
    order (grants go before the policies that guard them)."""
    writes = [c for c in changes if c.action in (CREATE, CONFIGURE)]
    prunes = [c for c in changes if c.action in (PRUNE, DELETE)]
    wave = lambda c: kind_of(c.obj).wave  # noqa: E731
    responses: dict[tuple, dict] = {}
    if dry_run:
        # The server cannot dry-run an object whose namespace does not exist yet.
        new = _new_namespaces(changes)
        responses.update((key(c.obj), c.obj) for c in writes if c.obj["metadata"].get("namespace") in new)
        writes = [c for c in writes if key(c.obj) not in responses]
    for _, group in groupby(sorted(writes, key=wave), key=wave):
        batch = list(group)
        try:
            answers = client.parallel(lambda c: client.apply(c.obj, dry_run=dry_run), batch)
        except ApiError as e:
            if any(c.obj["kind"] in GUARDS for c in batch):
                raise type(e)(f"{e}; the isolation policy was refused, so nothing it guards was written: "
                              "the runner manager got no new rights", e.status, e.reason) from None
            raise
        for c, response in zip(batch, answers):
            responses[key(c.obj)] = response
    for _, group in groupby(sorted(prunes, key=wave, reverse=True), key=wave):
        batch = list(group)
        client.parallel(lambda c: client.delete(c.obj, dry_run=dry_run), batch)
        responses.update((key(c.obj), {}) for c in batch)
    kept = [c for c in changes if c.action == KEEP]
    for c, response in zip(kept, client.parallel(lambda c: client.apply(released(c.obj), dry_run=dry_run), kept)):
        responses[key(c.obj)] = response
    return responses


def _new_namespaces(changes: list[Change]) -> set[str]:
    return {c.obj["metadata"]["name"] for c in changes if c.action == CREATE and c.obj["kind"] == "Namespace"}


def diff(client: Client, desired: list[dict], spec_name: str, *, prune: bool = False,
         prune_namespaces: bool = False, adopt: frozenset[str] = frozenset()) -> tuple[str, ApplyResult]:
    """Unified diff of live objects against what a server-side dry-run apply returns."""
    result = apply(client, desired, spec_name, dry_run=True, prune=prune, prune_namespaces=prune_namespaces,
                   adopt=adopt, force=True)
    changed = [c for c in result.changes if c.action in (CREATE, CONFIGURE, PRUNE)]

    def one(c: Change) -> str:
        before = _clean(c.live) if c.live else ""
        after = "" if c.action == PRUNE else _clean(result.responses[key(c.obj)])
        label = c.display.replace(" -n ", "@")
        return "".join(difflib.unified_diff(before.splitlines(True), after.splitlines(True),
                                            f"live/{label}", f"runnerkit/{label}"))

    return "".join(one(c) for c in changed), result


def delete(client: Client, spec_name: str, *, dry_run: bool = False, namespaces: bool = False,
           force: bool = False, client_only: bool = False) -> ApplyResult:
    start = len(client.requests)
    dry_run = dry_run or client_only
    live, _ = read_live(client, [], all_kinds=True, spec_name=spec_name)
    changes = [Change(DELETE, c.obj, c.live) if c.action == PRUNE else c  # delete deletes; --prune prunes
               for c in plan([], live, spec_name, prune=True, prune_namespaces=namespaces)]
    if not force:
        refuse_foreign(client, _deleted_namespaces(changes), spec_name, "--delete-namespaces")
    if not client_only:
        send(client, changes, dry_run)
    notes = []
    if any(c.action == KEEP for c in changes):
        notes.append("namespaces were kept without runnerkit's labels: pass --delete-namespaces to delete "
                     "them and all they hold")
    return ApplyResult(changes, dry_run, len(client.requests) - start,
                       0 if dry_run else sum(c.writes for c in changes), notes,
                       strategy="client" if client_only else "server" if dry_run else "none")


_VOLATILE = ("managedFields", "resourceVersion", "generation", "creationTimestamp", "uid", "selfLink")


def _clean(obj: dict) -> str:
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k not in _VOLATILE}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != FINGERPRINT}
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    clean = {**{k: v for k, v in obj.items() if k != "status"}, "metadata": meta}
    return yaml.safe_dump(clean, sort_keys=True)

