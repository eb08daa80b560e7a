"""`gitlab configure-runner` / `rollback` in live mode through the in-memory FakeClient: one PUT with
the read resourceVersion, the backup annotation, the restart, dry runs and concurrent edits
(e2e/test_gitlab.py does the same against a real server)."""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import FIXTURES
from fakes import FakeClient
from runnerkit.errors import Conflict, InputError
from runnerkit.gitlab import configmap
from runnerkit.gitlab.template import TEMPLATE_KEY, wanted_for
from runnerkit.model.validate import loads

SPEC = loads("""apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata: {name: team}
runners:
  - {name: shared, type: gitlab, namespace: gitlab-runner, release: gitlab-runner}
projects:
  - {name: web, runner: shared, namespace: web, access: [{preset: pod-reader}]}
  - {name: api, runner: shared, namespace: api, access: [{preset: pod-reader}]}
""")
RUNNER = SPEC.runners["shared"]
WANTED = wanted_for(SPEC, RUNNER)


def chart_objects(*kinds: str) -> list[dict]:
    docs = yaml.safe_load_all((FIXTURES / "gitlab-runner" / "default.yaml").read_text())
    return [d for d in docs if d and d["kind"] in kinds]


@pytest.fixture
def client() -> FakeClient:
    return FakeClient(chart_objects("ConfigMap", "Deployment"))


def template(client: FakeClient) -> str | None:
    return client.stored("ConfigMap", "gitlab-runner", "gitlab-runner")["data"].get(TEMPLATE_KEY)


def test_configure_writes_the_regexes_keeps_a_backup_and_restarts_the_runner(client):
    before = template(client)
    out = configmap.configure(client, RUNNER, WANTED)
    assert out.written and out.restarted == "deployment.apps/gitlab-runner -n gitlab-runner"
    after = template(client)
    assert 'namespace_overwrite_allowed = "^(?:api|web)$"' in after
    cm = client.stored("ConfigMap", "gitlab-runner", "gitlab-runner")
    assert json.loads(cm["metadata"]["annotations"][configmap.BACKUP_ANNOTATION]) == {"present": True,
                                                                                      "content": before,
                                                                                      "wrote": configmap.digest(after)}
    deployment = client.stored("Deployment", "gitlab-runner", "gitlab-runner")
    assert configmap.RESTARTED_AT in deployment["spec"]["template"]["metadata"]["annotations"]
    assert [verb for verb, _ in client.writes] == ["replace", "patch"]


def test_a_second_configure_changes_nothing(client):
    configmap.configure(client, RUNNER, WANTED)
    client.writes.clear()
    out = configmap.configure(client, RUNNER, WANTED)
    assert not out.changed and not out.written and client.writes == []


def test_dry_run_and_no_restart(client):
    out = configmap.configure(client, RUNNER, WANTED, dry_run=True)
    assert out.changed and not out.written and client.writes == []
    out = configmap.configure(client, RUNNER, WANTED, restart=False)
    assert out.written and out.restarted is None and [verb for verb, _ in client.writes] == ["replace"]


def test_a_concurrent_edit_is_a_conflict_and_nothing_is_overwritten(client):
    real_get = client.get

    def get_then_someone_edits(kind, name, namespace=None):
        obj = real_get(kind, name, namespace)
        if kind.kind == "ConfigMap":
            client.store(client.stored("ConfigMap", name, namespace))  # a new resourceVersion
        return obj

    client.get = get_then_someone_edits  # type: ignore[method-assign]
    before = template(client)
    with pytest.raises(Conflict, match="changed since runnerkit read it"):
        configmap.configure(client, RUNNER, WANTED)
    assert template(client) == before and client.writes == []


def test_rollback_restores_the_previous_template_byte_for_byte(client):
    before = template(client)
    configmap.configure(client, RUNNER, WANTED)
    out = configmap.rollback(client, RUNNER)
    assert out.written and template(client) == before
    cm = client.stored("ConfigMap", "gitlab-runner", "gitlab-runner")
    assert configmap.BACKUP_ANNOTATION not in cm["metadata"]["annotations"]
    with pytest.raises(InputError, match="nothing to roll back"):
        configmap.rollback(client, RUNNER)


def test_a_missing_configmap_says_where_it_looked():
    with pytest.raises(InputError, match="configmap/gitlab-runner -n gitlab-runner not found"):
        configmap.configure(FakeClient(), RUNNER, WANTED)
