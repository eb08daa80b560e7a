"""The pure plan: what apply would write, given desired objects and listed live ones."""

import copy

import pytest

from runnerkit.errors import InputError
from runnerkit.model.plan import (CONFIGURE, CREATE, KEEP, PRUNE, UNCHANGED, is_subset, missing_namespaces,
                            plan, with_fingerprint)

LABELS = {"app.kubernetes.io/managed-by": "runnerkit", "runnerkit.io/spec": "s"}


def obj(kind, name, ns=None, **extra):
    meta = {"name": name, "labels": dict(LABELS)}
    if ns:
        meta["namespace"] = ns
    api = "v1" if kind in ("Namespace", "ServiceAccount") else "rbac.authorization.k8s.io/v1"
    return {"apiVersion": api, "kind": kind, "metadata": meta, **extra}


def live_copy(desired):
    """What the server returns after applying: our fields plus server-owned ones."""
    out = copy.deepcopy(with_fingerprint(desired))
    out["metadata"].update(uid="u", resourceVersion="7", managedFields=[{}])
    return out


def actions(changes):
    return [(c.action, c.obj["kind"], c.obj["metadata"]["name"]) for c in changes]


def test_create_unchanged_configure():
    ns, role = obj("Namespace", "a"), obj("Role", "r", "a", rules=[{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}])
    assert actions(plan([ns, role], [], "s")) == [(CREATE, "Namespace", "a"), (CREATE, "Role", "r")]
    live = [live_copy(ns), live_copy(role)]
    live[0]["spec"] = {"finalizers": ["kubernetes"]}  # server-added fields are not drift
    assert actions(plan([ns, role], live, "s")) == [(UNCHANGED, "Namespace", "a"), (UNCHANGED, "Role", "r")]
    live[1]["rules"][0]["verbs"] = ["get", "list"]  # hand edit of a field we own
    assert actions(plan([ns, role], live, "s"))[1] == (CONFIGURE, "Role", "r")


def test_a_field_we_stopped_setting_is_a_change():
    before = obj("ServiceAccount", "sa", "a", automountServiceAccountToken=False)
    after = obj("ServiceAccount", "sa", "a")
    assert actions(plan([after], [live_copy(before)], "s")) == [(CONFIGURE, "ServiceAccount", "sa")]


def test_prune_keeps_namespaces_unless_asked_and_only_touches_this_spec():
    ns_old, role_old = obj("Namespace", "old"), obj("Role", "r", "old")
    foreign = obj("Role", "f", "x")
    foreign["metadata"]["labels"] = {**LABELS, "runnerkit.io/spec": "other"}
    live = [live_copy(ns_old), live_copy(role_old), live_copy(foreign)]
    assert actions(plan([], live, "s")) == []
    assert actions(plan([], live, "s", prune=True)) == [(PRUNE, "Role", "r"), (KEEP, "Namespace", "old")]
    assert actions(plan([], live, "s", prune=True, prune_namespaces=True))[1] == (PRUNE, "Namespace", "old")


def test_objects_of_another_spec_are_never_taken_over():
    mine = obj("Namespace", "a")
    theirs = live_copy(mine)
    theirs["metadata"]["labels"]["runnerkit.io/spec"] = "other"
    with pytest.raises(InputError, match="managed by runnerkit spec 'other'"):
        plan([mine], [theirs], "s")


def test_missing_target_namespaces_are_found_before_any_write():
    desired = [obj("Namespace", "a"), obj("Role", "r", "a"), obj("Role", "r", "prod")]
    assert missing_namespaces(desired, []) == [("prod", "r")]
    assert missing_namespaces(desired, [{"kind": "Namespace", "metadata": {"name": "prod"}}]) == []


def test_is_subset():
    assert is_subset({"a": [1, {"b": 2}]}, {"a": [1, {"b": 2, "c": 3}], "d": 4})
    assert not is_subset({"a": [1]}, {"a": [1, 2]})
    assert not is_subset({"a": 1}, {})
