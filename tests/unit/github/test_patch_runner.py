"""`github patch-runner` through the in-memory FakeClient: which workload is found, the patch, its
idempotence and dry run (e2e/test_github_patch_runner.py does the same on a real server with the CRDs)."""

from __future__ import annotations

import pytest
import yaml

from conftest import FIXTURES
from fakes import FakeClient
from runnerkit.errors import InputError, WorkloadNotFound
from runnerkit.github.arc import service_account_of
from runnerkit.github.runner import patch_runner
from runnerkit.model.validate import loads

SCALE_SETS = {"actions.github.com/v1alpha1": {"autoscalingrunnersets"}}
SPEC = loads("""apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata: {name: team}
runners:
  - {name: arc, type: github, namespace: arc-runners, release: arc-runner-set}
projects:
  - {name: web, runner: arc, namespace: arc-runners, serviceAccount: web-ci, access: [{preset: pod-reader}]}
  - {name: elsewhere, runner: arc, namespace: web, access: [{preset: pod-reader}]}
""")


def scale_set() -> dict:
    docs = yaml.safe_load_all((FIXTURES / "arc" / "scale-set-default.yaml").read_text())
    return next(d for d in docs if d and d["kind"] == "AutoscalingRunnerSet")


def test_the_scale_set_is_pointed_at_the_projects_service_account_once():
    obj = scale_set()
    client = FakeClient([obj], served=SCALE_SETS)
    name = obj["metadata"]["name"]
    result = patch_runner(client, SPEC.project("web"), name, "arc-runners")
    assert result.changed and result.new == "web-ci" and "web-ci" in result.diff
    stored = client.stored("AutoscalingRunnerSet", name, "arc-runners")
    assert service_account_of(stored) == "web-ci"
    client.writes.clear()
    again = patch_runner(client, SPEC.project("web"), name, "arc-runners")
    assert not again.changed and client.writes == []


def test_a_dry_run_shows_the_diff_and_writes_nothing():
    obj = scale_set()
    client = FakeClient([obj], served=SCALE_SETS)
    result = patch_runner(client, SPEC.project("web"), obj["metadata"]["name"], "arc-runners", dry_run=True)
    assert result.changed and result.dry_run and "web-ci" in result.diff and client.writes == []
    assert service_account_of(client.stored("AutoscalingRunnerSet", obj["metadata"]["name"], "arc-runners")) != "web-ci"


def test_a_missing_workload_names_what_was_looked_for_and_what_is_not_installed():
    with pytest.raises(WorkloadNotFound) as e:
        patch_runner(FakeClient(), SPEC.project("web"), "arc-runner-set", "arc-runners")
    assert "looked for Deployment" in str(e.value)
    assert "not installed: autoscalingrunnersets.actions.github.com" in str(e.value)


def test_a_workload_in_another_namespace_than_the_service_account_is_refused():
    obj = scale_set()
    client = FakeClient([obj], served=SCALE_SETS)
    with pytest.raises(InputError, match="a pod can only use a ServiceAccount of its own namespace"):
        patch_runner(client, SPEC.project("elsewhere"), obj["metadata"]["name"], "arc-runners")
    assert client.writes == []
