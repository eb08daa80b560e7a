"""The runner template edit: every chart fixture, RE2 semantics of the regexes, errors, idempotence."""

from __future__ import annotations

import tomllib

import pytest
import re2
import yaml

from conftest import FIXTURES, changed_lines
from runnerkit.model import validate
from runnerkit.cli.common import example_text
from runnerkit.errors import InputError
from runnerkit.gitlab.template import (ALLOW_ANY, NAMESPACE_KEY, SERVICE_ACCOUNT_KEY, TEMPLATE_KEY, Wanted,
                                       anchored_alternation, edit_template, wanted_for)

CHART = FIXTURES / "gitlab-runner"
RENDERED = ("default.yaml", "custom-config.yaml", "already-overwrite.yaml", "no-template.yaml")
EXAMPLE = validate.loads(example_text())
WANTED = wanted_for(EXAMPLE, EXAMPLE.runners["gitlab-shared"])
OVERWRITE_KEYS = (NAMESPACE_KEY, SERVICE_ACCOUNT_KEY)


def chart_configmap(name: str) -> dict:
    return next(d for d in yaml.safe_load_all((CHART / name).read_text()) if d and d["kind"] == "ConfigMap")


def test_example_spec_regexes():
    assert WANTED.namespace_regex == "^(?:cicd|web-app)$"
    assert WANTED.service_account_regex == "^(?:cicd-ci|web-app-ci)$"


@pytest.mark.parametrize("fixture", RENDERED)
def test_every_chart_render_is_configured_and_nothing_else_changes(fixture):
    before = chart_configmap(fixture)["data"].get(TEMPLATE_KEY)
    edit = edit_template(before, WANTED, fixture, "gitlab-runner")
    parsed = tomllib.loads(edit.after)
    assert len(parsed["runners"]) == 1
    kube = parsed["runners"][0]["kubernetes"]
    assert kube[NAMESPACE_KEY] == "^(?:cicd|web-app)$"
    assert kube[SERVICE_ACCOUNT_KEY] == "^(?:cicd-ci|web-app-ci)$"
    if before is None:
        assert edit.notes and "created a minimal one" in edit.notes[0]
        assert kube["namespace"] == "gitlab-runner" and kube["image"] == "alpine"
        return
    removed, added = changed_lines(before, edit.after)
    assert all(line.strip().split(" =")[0] in OVERWRITE_KEYS for line in removed + added), (removed, added)
    assert len(added) == 2
    # every other key keeps its value
    old = tomllib.loads(before)["runners"][0]
    for key in OVERWRITE_KEYS:
        old["kubernetes"].pop(key, None)
        parsed["runners"][0]["kubernetes"].pop(key)
    assert parsed["runners"][0] == old


def test_custom_config_keeps_comments_order_and_indentation():
    before = chart_configmap("custom-config.yaml")["data"][TEMPLATE_KEY]
    after = edit_template(before, WANTED, "cm", "gitlab").after
    lines = after.splitlines()
    at = lines.index('    namespace = "gitlab"')
    assert lines[at + 1:at + 3] == ['    namespace_overwrite_allowed = "^(?:cicd|web-app)$"',
                                    '    service_account_overwrite_allowed = "^(?:cicd-ci|web-app-ci)$"']
    assert [l for l in lines if l not in lines[at + 1:at + 3]] == before.splitlines()


def test_already_overwrite_replaces_wide_open_regexes_in_place():
    before = chart_configmap("already-overwrite.yaml")["data"][TEMPLATE_KEY]
    assert 'namespace_overwrite_allowed = ".*"' in before
    after = edit_template(before, WANTED, "cm", "gitlab-runner").after
    assert ".*" not in after
    assert after.splitlines()[:4] == before.splitlines()[:4]
    assert len(after.splitlines()) == len(before.splitlines())


@pytest.mark.parametrize("fixture", RENDERED)
def test_second_run_changes_nothing(fixture):
    first = edit_template(chart_configmap(fixture)["data"].get(TEMPLATE_KEY), WANTED, fixture, "gitlab-runner")
    second = edit_template(first.after, WANTED, fixture, "gitlab-runner")
    assert first.changed and not second.changed and second.after == first.after


def test_regexes_match_exactly_the_provisioned_names_under_re2():
    ns, sa = re2.compile(WANTED.namespace_regex), re2.compile(WANTED.service_account_regex)
    # the runner uses MatchString: unanchored search
    for name in ("cicd", "web-app"):
        assert ns.search(name)
    for name in ("review-web-app", "web-app-x", "web-appx", "xcicd", "cicd\nweb", "", "web", "web-app-ci",
                 "cicd|web-app", "kube-system"):
        assert not ns.search(name), name
    for name in ("cicd-ci", "web-app-ci"):
        assert sa.search(name)
    for name in ("default", "cicd", "web-app-ci-admin", "x-cicd-ci"):
        assert not sa.search(name), name


def test_unanchored_regex_would_allow_more_which_is_why_we_anchor():
    assert re2.compile("ci-.*").search("review-ci-apps")
    assert not re2.compile(anchored_alternation(["ci-apps"])).search("review-ci-apps")


def test_metacharacters_are_escaped_for_re2():
    regex = anchored_alternation(["a.b", "c-d", "a.b"])
    assert regex == r"^(?:a\.b|c-d)$"
    compiled = re2.compile(regex)
    assert compiled.search("a.b") and compiled.search("c-d")
    assert not compiled.search("axb")


def test_backslashes_are_written_as_a_toml_literal_string():
    wanted = Wanted(anchored_alternation(["ns"]), anchored_alternation(["build.bot"]))
    after = edit_template('[[runners]]\n  [runners.kubernetes]\n    image = "a"\n', wanted, "t", "x").after
    assert r"service_account_overwrite_allowed = '^(?:build\.bot)$'" in after
    assert tomllib.loads(after)["runners"][0]["kubernetes"][SERVICE_ACCOUNT_KEY] == r"^(?:build\.bot)$"


def test_an_existing_value_keeps_its_quoting_and_comment():
    before = "[[runners]]\n[runners.kubernetes]\nnamespace_overwrite_allowed = 'ci-.*'   # who may\n"
    after = edit_template(before, WANTED, "t", "x").after
    assert after.splitlines()[2] == "namespace_overwrite_allowed = '^(?:cicd|web-app)$'   # who may"


def test_missing_kubernetes_table_is_added_and_other_tables_stay():
    before = "[[runners]]\n  name = \"x\"\n  [runners.cache]\n    Type = \"s3\"\n"
    edit = edit_template(before, WANTED, "t", "x")
    assert edit.after.startswith(before)
    assert tomllib.loads(edit.after)["runners"][0]["cache"] == {"Type": "s3"}
    assert "added a [runners.kubernetes] table" in edit.notes[0]


def test_table_with_only_subtables_gets_keys_before_them():
    before = "[[runners]]\n  [runners.kubernetes]\n    [runners.kubernetes.node_selector]\n      a = \"b\"\n"
    after = edit_template(before, WANTED, "t", "x").after
    assert tomllib.loads(after)["runners"][0]["kubernetes"]["node_selector"] == {"a": "b"}
    assert after.splitlines()[2].startswith("    namespace_overwrite_allowed = ")


@pytest.mark.parametrize("text, expected", [
    ("concurrent = 1\n", "has 0 [[runners]] entries"),
    ("[[runners]]\n  name = 'a'\n[[runners]]\n  name = 'b'\n", "has 2 [[runners]] entries"),
    ("[[runners]]\n  executor = 'docker'\n", "executor = 'docker'"),
    ("[[runners]]\n  [runners.kubernetes]\n    image = @\n", "not valid TOML at line 3, column 13"),
    ("[[runners]\n", "not valid TOML at line 1"),
])
def test_bad_templates_are_refused_with_a_clear_message(text, expected):
    with pytest.raises(InputError) as e:
        edit_template(text, WANTED, "configmap/x -n y key config.template.toml", "x")
    assert expected in str(e.value)
    assert str(e.value).startswith("configmap/x -n y key config.template.toml")


def test_allow_any_is_only_written_when_asked():
    assert wanted_for(EXAMPLE, EXAMPLE.runners["gitlab-shared"]).namespace_regex != ALLOW_ANY
    wide = wanted_for(EXAMPLE, EXAMPLE.runners["gitlab-shared"], allow_any=True)
    assert (wide.namespace_regex, wide.service_account_regex) == (ALLOW_ANY, ALLOW_ANY)


def test_runner_without_projects_is_an_input_error():
    spec = validate.loads(EXAMPLE_TEXT_WITH_IDLE_RUNNER)
    with pytest.raises(InputError, match="runner 'idle' has no projects"):
        wanted_for(spec, spec.runners["idle"])


EXAMPLE_TEXT_WITH_IDLE_RUNNER = """apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata: {name: t}
runners:
  - {name: busy, type: gitlab, namespace: gitlab-runner}
  - {name: idle, type: gitlab, namespace: other}
projects:
  - {name: app, runner: busy}
"""
