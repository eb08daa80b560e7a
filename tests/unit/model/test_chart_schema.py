"""The chart refuses what `runnerkit validate` refuses: each mistake, fed to both, fails in both.

values.schema.json catches what a JSON schema can see; the templates fail on the rest (names after
{project} expansion, undeclared runners, repeated names) with runnerkit's own wording.
"""

from __future__ import annotations

import copy
import re

import pytest
import yaml

from runnerkit.model import validate
from runnerkit.errors import InputError
from runnerkit.model.helmvalues import values_from_document
from unit.model.test_chart import Helm, HELM_VERSIONS

BASE = {
    "apiVersion": "runnerkit.io/v1alpha1",
    "kind": "RunnerkitConfig",
    "metadata": {"name": "team"},
    "runners": [{"name": "gl", "type": "gitlab", "namespace": "gitlab-runner"},
                {"name": "gh", "type": "github", "namespace": "arc"}],
    "defaults": {"runner": "gl", "namespaceLabels": {"team": "web"}},
    "projects": [
        {"name": "web", "gitlab": {"projectIds": [1]},
         "access": [{"preset": "helm-deployer"},
                    {"name": "cfg", "rules": [{"apiGroups": [""], "resources": ["configmaps"],
                                               "verbs": ["get"]}]}]},
        {"name": "app", "runner": "gh", "github": {"repository": "o/r"}},
    ],
}


def grant(d):
    return d["projects"][0]["access"][0]


def rule(d):
    return d["projects"][0]["access"][1]["rules"][0]


def nodes_rule(d):
    rule(d)["resources"] = ["nodes"]


def no_runner(d):
    del d["defaults"]["runner"]


# (id, mutation, what both Helm 3 and Helm 4 print: the field's path, the unknown or missing key, or
# for template checks runnerkit's message)
MISTAKES = [
    ("bad project name", lambda d: d["projects"][0].update(name="Web_App"), "projects.0.name"),
    ("bad namespace", lambda d: d["projects"][0].update(namespace="under_score"), "projects.0.namespace"),
    ("namespace too long after {project}", lambda d: d["defaults"].update(namespace="{project}-" + "x" * 60),
     'defaults.namespace: "web-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" is not a valid namespace name'),
    ("bad ServiceAccount", lambda d: d["projects"][0].update(serviceAccount="Web"), "projects.0.serviceAccount"),
    ("unknown project key", lambda d: d["projects"][0].update(namespaces=["x"]), "namespaces"),
    ("unknown defaults key", lambda d: d["defaults"].update(serviceAcount="x"), "serviceAcount"),
    ("unknown grant key", lambda d: grant(d).update(namespace="x"), "namespace"),
    ("unknown rule key", lambda d: rule(d).update(resource=["pods"]), "resource"),
    ("unknown runner key", lambda d: d["runners"][0].update(image="x"), "image"),
    ("cluster-scoped resource without clusterWide", nodes_rule, "clusterWide"),
    ("cluster-admin without allowClusterAdmin",
     lambda d: d["projects"][0]["access"].append({"clusterRole": "cluster-admin", "name": "admin"}),
     "allowClusterAdmin"),
    ("wildcard without allowWildcards", lambda d: rule(d).update(verbs=["*"]), "allowWildcards"),
    ("unknown preset", lambda d: grant(d).update(preset="helm-deployr"), "preset"),
    ("two grant forms", lambda d: grant(d).update(clusterRole="view"), "oneOf"),
    ("no grant form", lambda d: d["projects"][0]["access"].append({"name": "nothing"}), "oneOf"),
    ("unknown verb", lambda d: rule(d).update(verbs=["read"]), "verbs"),
    ("rule without apiGroups", lambda d: rule(d).pop("apiGroups"), "apiGroups"),
    ("empty rules", lambda d: d["projects"][0]["access"][1].update(rules=[]), "rules"),
    ("rule without verbs", lambda d: rule(d).update(verbs=[]), "verbs"),
    ("clusterWide with namespaces", lambda d: grant(d).update(clusterWide=True, namespaces=["x"]),
     "namespaces"),
    ("clusterWide not a boolean", lambda d: grant(d).update(clusterWide="yes"), "clusterWide"),
    ("undeclared runner", lambda d: d["projects"][0].update(runner="nope"),
     'projects[0].runner: runner "nope" is not declared; set runner: to one of: gh, gl'),
    ("no runner", no_runner, "projects[0]: needs a runner; set runner: to one of: gh, gl"),
    ("repeated project", lambda d: d["projects"][1].update(name="web"),
     'projects[1].name: repeats project "web" of projects[0]'),
    ("repeated namespace", lambda d: d["projects"][1].update(namespace="web"),
     'projects[1].namespace: repeats namespace "web" of projects[0]'),
    ("repeated grant name", lambda d: d["projects"][0]["access"][1].update(name="helm-deployer"),
     'projects[0].access[1]: grant name "helm-deployer" is already used by projects[0].access[0]'),
    ("repeated runner", lambda d: d["runners"][1].update(name="gl", type="gitlab"),
     'runners[1].name: runner "gl" is declared twice'),
    ("bad runner type", lambda d: d["runners"][0].update(type="gitlub"), "type"),
    ("runner without namespace", lambda d: d["runners"][0].pop("namespace"), "namespace"),
    ("bad release", lambda d: d["runners"][0].update(release="Rel"), "runners.0.release"),
    ("bad label value", lambda d: d["defaults"]["namespaceLabels"].update(team="has space"), "defaults.namespaceLabels.team"),
    ("bad label key", lambda d: d["defaults"]["namespaceLabels"].update({"bad key": "x"}), "bad key"),
    ("label value not a string", lambda d: d["projects"][0].update(namespaceLabels={"count": 3}), "count"),
    ("bad GitLab project id", lambda d: d["projects"][0]["gitlab"].update(projectIds=[-1]), "projectIds"),
    ("bad GitHub repository", lambda d: d["projects"][1]["github"].update(repository="norepo"), "projects.1.github.repository"),
    ("bad pull secret", lambda d: d["projects"][0].update(imagePullSecrets=["Reg_Cred"]), "projects.0.imagePullSecrets.0"),
    ("automount not a boolean", lambda d: d["projects"][0].update(automountServiceAccountToken="yes"),
     "automountServiceAccountToken"),
    ("unknown resourceQuota key", lambda d: d["projects"][0].update(resourceQuota={"limits": {}}), "limits"),
    ("bad grant name", lambda d: grant(d).update(name="Bad_Name"), "projects.0.access.0.name"),
    ("ClusterRole name is no grant name", lambda d: d["projects"][0]["access"].append(
        {"clusterRole": "system:aggregate-to-view"}),
     'projects[0].access[2].name: "system:aggregate-to-view" is not a valid grant name'),
]


def mistake_doc(mutate) -> dict:
    doc = copy.deepcopy(BASE)
    mutate(doc)
    return doc


@pytest.fixture(scope="module", params=HELM_VERSIONS)
def helm(request) -> Helm:
    return Helm(request.param)


def test_the_unmutated_spec_is_accepted_by_both(helm, tmp_path):
    validate.loads(yaml.safe_dump(BASE))
    assert helm.template(values_from_document(BASE), tmp_path)


@pytest.mark.parametrize("mutate,fragment", [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_a_mistake_runnerkit_rejects_is_rejected_by_the_chart(helm, tmp_path, mutate, fragment):
    doc = mistake_doc(mutate)
    with pytest.raises(InputError):
        validate.loads(yaml.safe_dump(doc))
    run = helm.template_run(values_from_document(doc), tmp_path, check=False)
    assert run.returncode != 0, run.stdout
    assert fragment in same_paths(run.stderr), run.stderr


def same_paths(helm_error: str) -> str:
    """Helm 4 says at '/projects/0/name' where Helm 3 says projects.0.name: use Helm 3's form."""
    return re.sub(r"'/([^']*)'", lambda m: m.group(1).replace("/", "."), helm_error)
