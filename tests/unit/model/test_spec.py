"""Spec validation: every bad input is one line with file:line, field and fix."""

import pytest

from runnerkit.model import validate
from runnerkit.cli.files import read_spec
from runnerkit.model import spec
from runnerkit.errors import InputError, SpecError

HEAD = """apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata:
  name: test
runners:
  - name: gl
    type: gitlab
    namespace: gitlab-runner
"""


def load(body: str) -> spec.Spec:
    return validate.loads(HEAD + body, "runnerkit.yaml")


def problems(body: str) -> list[str]:
    with pytest.raises(SpecError) as e:
        load(body)
    return e.value.problems


def test_defaults_apply_and_names_derive():
    s = load("""defaults:
  runner: gl
  serviceAccount: "{project}-deployer"
  namespaceLabels: {team: platform, tier: ci}
projects:
  - name: web
    namespaceLabels: {tier: prod}
  - name: api
    namespace: api-ci
    serviceAccount: builder
""")
    web, api = s.projects
    assert (web.namespace, web.service_account) == ("web", "web-deployer")
    assert (api.namespace, api.service_account) == ("api-ci", "builder")
    assert web.namespace_labels == {"team": "platform", "tier": "prod"}  # maps merge
    assert web.runner.config_map == "gitlab-runner" and web.runner.service_account == "gitlab-runner"


def test_chart_fullname_follows_the_gitlab_runner_chart():
    assert spec.chart_fullname("gitlab-runner", None) == "gitlab-runner"
    assert spec.chart_fullname("gitlab-runner-prod", None) == "gitlab-runner-prod"
    assert spec.chart_fullname("ci", None) == "ci-gitlab-runner"
    assert spec.chart_fullname("my-gitlab-runner", None) == "my-gitlab-runner-gitlab-runner"  # hasPrefix
    assert spec.chart_fullname("ci", "shared") == "shared"


def test_bad_namespace_names_file_line_field_and_fix():
    (line,) = problems("""projects:
  - name: web
    runner: gl
    namespace: Team_A
""")
    assert line == ('runnerkit.yaml:12: projects[0].namespace \'Team_A\' is not a valid namespace name: '
                    "lowercase letters, digits and '-', at most 63")


@pytest.mark.parametrize("body, expected", [
    ("projects:\n  - name: a\n    runner: gl\n    namespce: x\n", "namespce is not a known key; did you mean 'namespace'?"),
    ("projects:\n  - name: a\n    runner: gl\n  - name: a\n    runner: gl\n", "repeats project 'a'"),
    ("projects:\n  - name: a\n    runner: gl\n  - name: b\n    runner: gl\n    namespace: a\n", "repeats namespace 'a'"),
    ("projects:\n  - name: a\n    runner: gl\n    access:\n      - preset: helm-deployr\n",
     "'helm-deployr' is not a known preset; did you mean 'helm-deployer'?"),
    ("projects:\n  - name: a\n    runner: gl\n    access:\n      - rules:\n          - apiGroups: ['']\n"
     "            resources: [pods]\n            verbs: []\n", "verbs is empty"),
    ("projects:\n  - name: a\n    runner: gl\n    access:\n      - rules:\n          - apiGroups: ['']\n"
     "            resources: ['*']\n            verbs: [get]\n", "wildcard '*'"),
    ("projects:\n  - name: a\n    runner: gl\n    access:\n      - rules:\n          - apiGroups: ['']\n"
     "            resources: [pods]\n            verbs: [lsit]\n", "'lsit' is not a Kubernetes verb; did you mean 'list'?"),
    ("projects:\n  - name: a\n    runner: gl\n    access:\n      - rules:\n          - apiGroups: ['']\n"
     "            resources: [nodes]\n            verbs: [get]\n", "cluster-scoped nodes"),
    ("projects:\n  - name: a\n    runner: gl\n    access:\n      - clusterRole: cluster-admin\n        clusterWide: true\n",
     "add allowClusterAdmin: true"),
    ("projects:\n  - name: a\n    runner: gl\n    access:\n      - clusterRole: cluster-admin\n",
     "add allowClusterAdmin: true"),
    ("projects:\n  - name: a\n    runner: nope\n", "runner 'nope' is not declared; set runner: to one of: gl"),
    ("projects:\n  - name: a\n", "needs a runner"),
    ("projects:\n  - name: a\n    runner: gl\n    access:\n      - preset: viewer\n        clusterRole: view\n",
     "exactly one of preset, rules or clusterRole"),
    ("projects:\n  - name: a\n    runner: gl\n    namespaceLabels: {team: 'a b'}\n", "not a valid label value"),
    ("projects:\n  - name: a\n    runner: gl\n    automountServiceAccountToken: 'yes'\n", "must be true or false"),
    ("projects:\n  - name: a\n    runner: gl\n    gitlab: {projectIds: [0]}\n", "positive GitLab project id"),
])
def test_rejections(body, expected):
    lines = problems(body)
    assert any(expected in line for line in lines), lines
    assert all(line.startswith("runnerkit.yaml:") for line in lines)


def test_every_problem_is_reported_at_once_in_line_order():
    lines = problems("""projects:
  - name: A
    runner: gl
  - name: b
    runner: gl
    access:
      - preset: nope
""")
    assert len(lines) == 2
    assert [int(line.split(":")[1]) for line in lines] == [10, 15]


def test_opt_ins_allow_cluster_wide_and_wildcards():
    s = load("""projects:
  - name: a
    runner: gl
    access:
      - clusterRole: cluster-admin
        clusterWide: true
        allowClusterAdmin: true
      - name: everything
        allowWildcards: true
        rules:
          - apiGroups: ['*']
            resources: ['*']
            verbs: ['*']
""")
    admin, wild = s.projects[0].grants
    assert admin.cluster_wide and admin.cluster_role == "cluster-admin" and admin.namespaces == ()
    assert wild.rules[0]["verbs"] == ["*"] and wild.namespaces == ("a",)


def test_target_namespaces_come_after_the_own_one():
    s = load("""projects:
  - name: web
    runner: gl
    access:
      - preset: helm-deployer
        namespaces: [web-staging, web-prod, web]
""")
    assert s.projects[0].grants[0].namespaces == ("web", "web-staging", "web-prod")


@pytest.mark.parametrize("text, expected", [
    ("a: &x [1]\nb: *x\n", "anchors and aliases are not supported"),
    ("- 1\n- 2\n", "must be a mapping"),
    ("", "the file is empty"),
    ("a: [1\n", "not valid YAML"),
    ("a: 1\na: 2\n", "a is given twice"),
])
def test_yaml_shape_errors(text, expected):
    with pytest.raises(InputError) as e:
        validate.loads(text, "x.yaml")
    assert expected in str(e.value) and str(e.value).startswith("x.yaml:")


def test_billion_laughs_is_refused_fast():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
    with pytest.raises(InputError, match="aliases"):
        validate.loads(bomb, "bomb.yaml")


def test_header_is_checked():
    with pytest.raises(SpecError) as e:
        validate.loads("apiVersion: v1\nkind: Other\nmetadata: {name: x}\nprojects: []\n", "f.yaml")
    assert any("apiVersion must be 'runnerkit.io/v1alpha1'" in p for p in e.value.problems)
    assert any("kind must be 'RunnerkitConfig'" in p for p in e.value.problems)


def test_a_spec_without_projects_is_refused():
    assert any("projects is missing" in line for line in problems(""))


def test_missing_file_says_how_to_start():
    with pytest.raises(InputError, match="runnerkit init"):
        read_spec("/nonexistent/runnerkit.yaml")


@pytest.mark.parametrize("text", ["=", "metadata: !!python/name:os.system x\n", "a: !!binary 'not base64!'\n"])
def test_values_the_safe_loader_cannot_build_are_one_line_of_bad_input(text):
    with pytest.raises(InputError) as e:
        validate.loads(text, "runnerkit.yaml")
    assert str(e.value).startswith("runnerkit.yaml:1: not valid here: ")
    assert "\n" not in str(e.value)
