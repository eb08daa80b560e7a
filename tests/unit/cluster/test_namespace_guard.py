"""Before namespaces are deleted: others' objects in them are found with one list per kind."""

from __future__ import annotations

import pytest

from fakes import FakeClient
from runnerkit.cluster.namespace_guard import CONTENT_KINDS, foreign_contents, refuse_foreign
from runnerkit.errors import InputError

OURS = {"app.kubernetes.io/managed-by": "runnerkit", "runnerkit.io/spec": "s"}


def obj(kind: str, namespace: str, name: str, labels: dict | None = None) -> dict:
    api = "apps/v1" if kind == "Deployment" else "v1"
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": namespace, "labels": labels or {}}}


def cluster(namespaces: int) -> FakeClient:
    objects = [obj("ServiceAccount", f"ns{i}", "default") for i in range(namespaces)]
    objects += [obj("ServiceAccount", f"ns{i}", "ci", OURS) for i in range(namespaces)]
    objects += [obj("ConfigMap", "ns1", "team-data"), obj("ConfigMap", "elsewhere", "x")]
    return FakeClient(objects)


def test_one_list_per_kind_however_many_namespaces_are_deleted():
    client = cluster(50)
    found = foreign_contents(client, [f"ns{i}" for i in range(50)], "s")
    assert found == {"ns1": ["configmap/team-data"]}  # built-ins and the spec's own objects are not foreign
    assert len(client.requests) == len(CONTENT_KINDS)


def test_a_single_namespace_is_listed_in_that_namespace_only():
    client = cluster(2)
    assert foreign_contents(client, ["ns1"], "s") == {"ns1": ["configmap/team-data"]}
    assert all("/namespaces/ns1/" in path for _, path in client.requests)


def test_refusal_names_what_is_inside_and_the_way_out():
    with pytest.raises(InputError) as e:
        refuse_foreign(cluster(3), ["ns0", "ns1", "ns2"], "s", "--prune-namespaces")
    assert "namespace ns1 holds objects runnerkit does not manage: configmap/team-data" in str(e.value)
    assert "--prune-namespaces --force" in str(e.value) and "ns0" not in str(e.value)
