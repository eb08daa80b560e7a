"""apply / diff / delete through the in-memory FakeClient: the plan, the waves, ownership conflicts,
dry runs and pruning, in milliseconds (e2e/test_apply.py proves the same on a real server)."""

from __future__ import annotations

import inspect

import pytest

from fakes import FakeClient
from runnerkit.cluster import apply
from runnerkit.cluster.protocol import Client
from runnerkit.desired import render
from runnerkit.errors import Forbidden, InputError
from runnerkit.model.validate import loads

RUNNERS = """apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata: {name: team}
runners:
  - {name: shared, type: gitlab, namespace: gitlab-runner, release: gitlab-runner}
projects:
"""
WEB = """  - name: web
    runner: shared
    namespace: web
    gitlab: {projectIds: [42]}
    access:
      - {preset: pod-reader}
"""
API = """  - name: api
    runner: shared
    namespace: api
    access:
      - {preset: pod-reader}
"""


def desired(*projects: str, name: str = "team") -> list[dict]:
    return render(loads(RUNNERS.replace("name: team", f"name: {name}") + "".join(projects)))


def actions(result: apply.ApplyResult) -> dict[str, str]:
    return {c.display: c.action for c in result.changes}


def test_the_fake_implements_every_method_of_the_client_protocol():
    wanted = {n for n, _ in inspect.getmembers(Client, inspect.isfunction) if not n.startswith("_")}
    assert wanted <= {n for n in dir(FakeClient) if not n.startswith("_")}


def test_a_cold_apply_creates_everything_wave_by_wave():
    client = FakeClient()
    result = apply.apply(client, desired(WEB, API), "team")
    assert set(actions(result).values()) == {"created"} and result.writes == len(result.changes)
    kinds = [w.split()[0] for verb, w in client.writes]
    # the isolation policy before anything it guards, namespaces before what lives in them, bindings last
    assert kinds.index("ValidatingAdmissionPolicyBinding") < kinds.index("Namespace")
    assert max(i for i, k in enumerate(kinds) if k == "Namespace") < kinds.index("ServiceAccount")
    assert max(i for i, k in enumerate(kinds) if k in ("Role", "ServiceAccount")) < kinds.index("RoleBinding")
    assert result.requests == len(client.requests)


def test_a_second_apply_writes_nothing_and_reads_only_its_own_objects():
    client = FakeClient()
    apply.apply(client, desired(WEB, API), "team")
    client.requests.clear(), client.writes.clear()
    result = apply.apply(client, desired(WEB, API), "team")
    assert set(actions(result).values()) == {"unchanged"} and result.writes == 0 and client.writes == []
    assert all(method == "GET" for method, _ in client.requests)


def test_a_hand_edit_of_a_field_runnerkit_sets_is_configured_back():
    client = FakeClient()
    apply.apply(client, desired(WEB), "team")
    role = client.stored("Role", "runnerkit-web-pod-reader", "web")
    role["rules"][0]["verbs"] = ["*"]
    client.store(role)
    result = apply.apply(client, desired(WEB), "team")
    assert actions(result)["role.rbac.authorization.k8s.io/runnerkit-web-pod-reader -n web"] == "configured"
    assert client.stored("Role", "runnerkit-web-pod-reader", "web")["rules"][0]["verbs"] == ["get", "list"]


def test_an_object_of_another_spec_is_refused_and_nothing_is_written():
    client = FakeClient()
    apply.apply(client, desired(WEB, name="other"), "other")
    client.writes.clear()
    with pytest.raises(InputError, match="is managed by runnerkit spec 'other', not 'team'"):
        apply.apply(client, desired(WEB), "team")
    assert client.writes == []


def test_a_dry_run_writes_nothing_and_does_not_send_objects_of_namespaces_it_would_create():
    client = FakeClient()
    result = apply.apply(client, desired(WEB), "team", dry_run=True)
    assert set(actions(result).values()) == {"created"} and result.writes == 0
    assert client.objects == {} and client.writes == []
    sent = {path for method, path in client.requests if method == "PATCH"}
    assert not any("/namespaces/web/" in p for p in sent)  # the server cannot dry-run into a new namespace
    assert any("were not validated by the server" in n for n in result.notes)


def test_prune_deletes_what_left_the_spec_but_keeps_namespaces_unless_asked():
    client = FakeClient()
    apply.apply(client, desired(WEB, API), "team")
    result = apply.apply(client, desired(WEB), "team", prune=True)
    gone = {d: a for d, a in actions(result).items() if " -n api" in d or d == "namespace/api"}
    assert gone["namespace/api"] == "kept" and set(gone.values()) - {"kept"} == {"pruned"}
    assert client.stored("Namespace", "api") is not None and [k for k in client.objects if k[1] == "api"] == []
    apply.apply(client, desired(WEB), "team", prune=True, prune_namespaces=True)
    assert client.stored("Namespace", "api") is None


def test_a_refused_isolation_policy_stops_before_the_grants_it_guards():
    def refuse(obj: dict):
        return Forbidden("validatingadmissionpolicies is forbidden (403 Forbidden)", 403) \
            if obj["kind"] == "ValidatingAdmissionPolicy" else None

    client = FakeClient(refuse=refuse)
    with pytest.raises(Forbidden, match="nothing it guards was written"):
        apply.apply(client, desired(WEB), "team")
    assert client.writes == []


def test_what_the_server_refuses_is_refused_by_a_dry_run_before_the_first_write():
    client = FakeClient()
    apply.apply(client, desired(WEB), "team")  # web exists now; api and its objects are new
    client.writes.clear()

    def refuse(obj: dict):  # e.g. an admission webhook or a quota the spec loader cannot know
        return Forbidden("rolebindings is forbidden by admission (403 Forbidden)", 403) \
            if obj["kind"] == "RoleBinding" and obj["metadata"]["namespace"] == "web" else None

    client.refuse = refuse
    with pytest.raises(Forbidden, match="forbidden by admission"):
        apply.apply(client, desired(WEB + "      - {preset: viewer}\n", API), "team")
    assert client.writes == []  # not even the new namespace api


def test_kinds_the_server_does_not_serve_are_skipped_with_a_note():
    client = FakeClient(unserved={"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"})
    result = apply.apply(client, desired(WEB), "team")
    assert not any(c.obj["kind"].startswith("Validating") for c in result.changes)
    assert any("does not serve ValidatingAdmissionPolicy" in n for n in result.notes)


def test_a_namespace_that_neither_exists_nor_is_declared_is_an_input_error():
    objects = [o for o in desired(WEB) if o["kind"] != "Namespace"]
    client = FakeClient()
    with pytest.raises(InputError, match="namespace 'web' does not exist"):
        apply.apply(client, objects, "team")
    assert client.writes == []


def test_diff_shows_the_change_and_delete_removes_the_spec():
    client = FakeClient()
    apply.apply(client, desired(WEB), "team")
    role = client.stored("Role", "runnerkit-web-pod-reader", "web")
    role["rules"][0]["verbs"] = ["*"]
    client.store(role)
    text, result = apply.diff(client, desired(WEB), "team")
    assert "-  - '*'" in text and "+  - get" in text and result.writes == 0
    result = apply.delete(client, "team", namespaces=True)
    assert set(actions(result).values()) == {"deleted"}  # delete reports deleted, apply --prune pruned
    assert [k for k in client.objects if k[0] != "Namespace" or k[2] == "web"] == []


def test_the_text_report_lists_every_object_then_the_counts_and_notes():
    from runnerkit.cluster.apply_report import text

    client = FakeClient()
    result = apply.apply(client, desired(WEB), "team", dry_run=True)
    lines = text(result).splitlines()
    assert lines[0] == "namespace/web created (server dry run)"
    assert lines[len(result.changes)] == (f"{len(result.changes)} created; 0 writes, {result.requests} requests; "
                                          "dry run: nothing was changed")
    assert lines[len(result.changes) + 1:] == [f"note: {n}" for n in result.notes]
