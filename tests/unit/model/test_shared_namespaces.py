"""Projects that share or borrow a namespace, pure: what render emits, what the spec refuses, and
the plan's migration of cluster-scoped names and release of kept namespaces."""

from __future__ import annotations

import pytest

from runnerkit.desired import render
from runnerkit.errors import SpecError
from runnerkit.model import validate as spec_mod
from runnerkit.model.plan import KEEP, PRUNE, UNCHANGED, plan, released, with_fingerprint

HEAD = """apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata: {name: team}
runners: [{name: gh, type: github, namespace: arc}, {name: gl, type: gitlab, namespace: glr}]
projects:
"""


def objects(body: str) -> list[dict]:
    return render(spec_mod.loads(HEAD + body))


def problems(body: str) -> str:
    with pytest.raises(SpecError) as e:
        spec_mod.loads(HEAD + body)
    return str(e.value)


def test_projects_in_default_share_it_without_managing_it():
    objs = objects("""  - {name: deployer, runner: gh, namespace: default, allowDefaultNamespace: true,
     serviceAccount: deployer,
     access: [{preset: helm-deployer}]}
  - {name: checker, runner: gh, namespace: default, allowDefaultNamespace: true, serviceAccount: checker,
     access: [{preset: viewer}]}
""")
    assert not [o for o in objs if o["kind"] == "Namespace"]
    accounts = {(o["metadata"]["namespace"], o["metadata"]["name"]): o["metadata"]["labels"]["runnerkit.io/project"]
                for o in objs if o["kind"] == "ServiceAccount"}
    assert accounts == {("default", "deployer"): "deployer", ("default", "checker"): "checker"}


def test_manage_namespace_false_borrows_a_namespace_and_true_claims_a_reserved_one():
    objs = objects("  - {name: a, runner: gh, namespace: tools, manageNamespace: false}\n")
    assert [o["kind"] for o in objs] == ["ServiceAccount"]
    objs = objects("  - {name: a, runner: gh, namespace: default, allowDefaultNamespace: true,"
                   " manageNamespace: true}\n")
    assert [o["metadata"]["name"] for o in objs if o["kind"] == "Namespace"] == ["default"]


def test_one_project_of_a_spec_manages_a_shared_namespace():
    assert objects("""  - {name: a, runner: gh, namespace: team}
  - {name: b, runner: gh, namespace: team, manageNamespace: false}
""")
    assert ("projects[1].namespace repeats namespace 'team' of projects[0]; each project needs its own, "
            "or add manageNamespace: false to all but one") in problems("""  - {name: a, runner: gh, namespace: team}
  - {name: b, runner: gh, namespace: team}
""")


@pytest.mark.parametrize("body,message", [
    ("  - {name: a, runner: gh, namespace: default, allowDefaultNamespace: true, serviceAccount: ci}\n"
     "  - {name: b, runner: gh, namespace: default, allowDefaultNamespace: true, serviceAccount: ci}\n",
     "projects[1].serviceAccount repeats ServiceAccount 'ci' in namespace 'default' of projects[0]"),
    ("  - {name: a, runner: gh, namespace: default, allowDefaultNamespace: true, resourceQuota: {hard: {pods: 1}}}\n"
     "  - {name: b, runner: gh, namespace: default, allowDefaultNamespace: true,"
     " resourceQuota: {hard: {pods: 2}}}\n",
     "projects[1].resourceQuota repeats the resourceQuota of namespace 'default' of projects[0]"),
    ("  - {name: a, runner: gl, namespace: default, allowDefaultNamespace: true}\n  - {name: b, runner: gl, namespace: default, allowDefaultNamespace: true}\n",
     "repeats the GitLab runner-manager Role in namespace 'default' of projects[0]"),
    ("  - {name: a, runner: gh, namespace: tools, manageNamespace: false, namespaceLabels: {x: y}}\n",
     "projects[0].namespaceLabels cannot be set: runnerkit does not manage namespace 'tools'"),
    ("  - {name: a, runner: gh, namespace: tools, manageNamespace: false, adoptNamespace: true}\n",
     "projects[0].adoptNamespace cannot be true: runnerkit does not manage namespace 'tools'"),
    ("  - {name: a, runner: gh, namespace: default}\n",
     "add allowDefaultNamespace: true to the project"),
])
def test_names_that_would_collide_in_one_namespace_are_refused(body, message):
    assert message in problems(body)


def test_cluster_scoped_names_carry_the_spec():
    objs = objects("  - {name: web, runner: gh, access: [{clusterRole: view, clusterWide: true, name: v}]}\n")
    assert [o["metadata"]["name"] for o in objs if o["kind"] == "ClusterRoleBinding"] == ["runnerkit-team-web-v"]
    # Namespaced objects keep their short names.
    assert [o["metadata"]["name"] for o in objs if o["kind"] == "Namespace"] == ["web"]


def live(obj: dict, spec: str = "team") -> dict:
    out = with_fingerprint(obj)
    out["metadata"] = {**out["metadata"], "labels": {**out["metadata"]["labels"], "runnerkit.io/spec": spec}}
    return out


def test_apply_prunes_old_cluster_scoped_names_of_its_own_spec_only():
    desired = objects("  - {name: web, runner: gh, access: [{clusterRole: view, clusterWide: true, name: v}]}\n")
    binding = next(o for o in desired if o["kind"] == "ClusterRoleBinding")
    old = live({**binding, "metadata": {**binding["metadata"], "name": "runnerkit-web-v"}})
    foreign = live({**binding, "metadata": {**binding["metadata"], "name": "runnerkit-web-v"}}, spec="other")
    for extra, pruned in ((old, True), (foreign, False)):
        changes = plan(desired, [live(o) for o in desired] + [extra], "team")  # no --prune
        gone = [c.obj["metadata"]["name"] for c in changes if c.action == PRUNE]
        assert gone == (["runnerkit-web-v"] if pruned else [])
        assert {c.action for c in changes if c.action != PRUNE} == {UNCHANGED}
    # With --prune it is pruned once, not twice.
    changes = plan(desired, [live(o) for o in desired] + [old], "team", prune=True)
    assert [c.action for c in changes].count(PRUNE) == 1


def test_a_kept_namespace_is_released_by_an_apply_that_names_nothing_else():
    ns = next(o for o in objects("  - {name: web, runner: gh}\n") if o["kind"] == "Namespace")
    changes = plan([], [live(ns)], "team", prune=True)
    assert [(c.action, c.writes) for c in changes] == [(KEEP, True)]
    assert released(changes[0].obj) == {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "web"}}
