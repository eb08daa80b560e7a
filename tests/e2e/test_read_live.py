"""apply reads its own spec's objects, and other specs' only when it is about to create something."""

from __future__ import annotations

import pytest

from runnerkit.model import validate
from runnerkit.cluster import apply
from runnerkit.model import spec
from runnerkit.errors import InputError
from runnerkit.desired import render


def spec_text(name: str, u: str, projects: list[str], shared: str | None = None) -> str:
    access = f"[{{preset: pod-reader, namespaces: [{shared}]}}]" if shared else "[{preset: pod-reader}]"
    lines = [f"apiVersion: runnerkit.io/v1alpha1\nkind: RunnerkitConfig\nmetadata: {{name: {name}}}",
             f"runners:\n  - {{name: gl, type: gitlab, namespace: runner-{u}, release: gitlab-runner}}",
             f"defaults:\n  runner: gl\n  namespace: \"{{project}}-{name}\"", "projects:"]
    lines += [f"  - {{name: {p}, access: {access}}}" for p in projects]
    return "\n".join(lines) + "\n"


@pytest.fixture
def recorded(kube, monkeypatch):
    """The (kind, label selector) of every list call."""
    calls = []
    original = kube.list_objects

    def list_(kind, label_selector=None, namespace=None):
        calls.append((kind.kind, label_selector))
        return original(kind, label_selector, namespace)
    monkeypatch.setattr(kube, "list_objects", list_)
    return calls


def test_reapply_lists_only_its_own_objects_and_new_objects_check_the_other_specs(kube, unique, recorded):
    name = f"reads-{unique}"
    own = f"app.kubernetes.io/managed-by=runnerkit,runnerkit.io/spec={name}"
    others = f"app.kubernetes.io/managed-by=runnerkit,runnerkit.io/spec!={name}"
    own_lists = [("Namespace", None)] + [(k, own) for k in ("ServiceAccount", "Role", "RoleBinding")]
    first = validate.loads(spec_text(name, unique, ["a"]))
    try:
        apply.apply(kube, render(first), name)
        assert sorted(recorded) == sorted(own_lists)  # a new namespace cannot hold anyone's objects yet

        del recorded[:]
        result = apply.apply(kube, render(first), name)
        assert result.writes == 0 and result.requests == 4
        assert sorted(recorded) == sorted(own_lists)

        del recorded[:]  # a new project in a new namespace: still nothing else to read
        grown = validate.loads(spec_text(name, unique, ["a", "b"]))
        assert apply.apply(kube, render(grown), name).counts() == {"unchanged": 6, "created": 6}
        assert sorted(recorded) == sorted(own_lists)

        del recorded[:]  # a new Role and RoleBinding in an existing namespace: check the other specs'
        extra = validate.loads(spec_text(name, unique, ["a", "b"]).replace(
            "[{preset: pod-reader}]", "[{preset: pod-reader}, {preset: helm-deployer}]"))
        assert apply.apply(kube, render(extra), name).counts() == {"unchanged": 12, "created": 4}
        assert sorted(recorded) == sorted(own_lists + [("Role", others), ("RoleBinding", others)])
    finally:
        apply.delete(kube, name, namespaces=True)


def test_an_object_of_another_spec_is_still_refused(kube, unique, make_namespace):
    shared = make_namespace(f"shared-{unique}")
    owner, intruder = f"owner-{unique}", f"intruder-{unique}"
    try:
        apply.apply(kube, render(validate.loads(spec_text(owner, unique, ["web"], shared))), owner)
        other = validate.loads(spec_text(intruder, unique, ["web"], shared))
        with pytest.raises(InputError, match=f"-n {shared} is managed by runnerkit spec '{owner}'"):
            apply.apply(kube, render(other), intruder)
        assert apply.delete(kube, intruder, namespaces=True).changes == []  # nothing was written
    finally:
        apply.delete(kube, owner, namespaces=True)
