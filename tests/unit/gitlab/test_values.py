"""File mode: runners.config inside a Helm values file is edited; every other byte stays."""

from __future__ import annotations

import tomllib

import pytest
import yaml

from conftest import FIXTURES, changed_lines
from runnerkit.model import validate
from runnerkit.cli.common import example_text
from runnerkit.errors import InputError
from runnerkit.gitlab.template import NAMESPACE_KEY, SERVICE_ACCOUNT_KEY, wanted_for
from runnerkit.gitlab.values import edit_values

CHART = FIXTURES / "gitlab-runner"
EXAMPLE = validate.loads(example_text())
WANTED = wanted_for(EXAMPLE, EXAMPLE.runners["gitlab-shared"])
VALUES = ("values-custom.yaml", "values-already-overwrite.yaml", "values-no-template.yaml")


@pytest.mark.parametrize("fixture", VALUES)
def test_every_values_fixture_is_configured_and_the_rest_of_the_file_is_untouched(fixture):
    text = (CHART / fixture).read_text()
    new_text, edit = edit_values(text, WANTED, fixture)
    before, after = yaml.safe_load(text), yaml.safe_load(new_text)
    config = tomllib.loads(after["runners"]["config"])
    assert len(config["runners"]) == 1
    kube = config["runners"][0]["kubernetes"]
    assert kube[NAMESPACE_KEY] == "^(?:cicd|web-app)$"
    assert kube[SERVICE_ACCOUNT_KEY] == "^(?:cicd-ci|web-app-ci)$"
    after["runners"].pop("config"), before["runners"].pop("config")
    assert after == before
    removed, added = changed_lines(text, new_text)
    if fixture == "values-no-template.yaml":
        assert removed == ['  config: ""']
        assert added[0] == "  config: |"
        assert "{{ default .Release.Namespace .Values.runners.jobNamespace }}" in added[3]
    else:
        assert all(line.strip().split(" =")[0] in (NAMESPACE_KEY, SERVICE_ACCOUNT_KEY)
                   for line in removed + added), (removed, added)
    # comments and the YAML around the block are byte-identical
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            assert line in new_text.splitlines()


@pytest.mark.parametrize("fixture", VALUES)
def test_values_edit_is_idempotent(fixture):
    once, _ = edit_values((CHART / fixture).read_text(), WANTED, fixture)
    twice, edit = edit_values(once, WANTED, fixture)
    assert twice == once and not edit.changed


def test_custom_values_keep_helm_templating_inside_the_toml():
    new_text, _ = edit_values((CHART / "values-custom.yaml").read_text(), WANTED, "v")
    assert '        namespace = "{{ .Release.Namespace }}"\n' \
           '        namespace_overwrite_allowed = "^(?:cicd|web-app)$"\n' in new_text
    # the blank line between the block and `cache:` belongs to the file and stays
    assert '          Insecure = false\n\n  cache:\n' in new_text


@pytest.mark.parametrize("text", [
    "gitlabUrl: https://gitlab.example.com/\n",
    "runners:\n  tags: k8s\n",
    "runners:\n",
    "runners: ~  # none yet\nrbac: {create: true}\n",
    "runners: {}\n",
    "runners:\n  config: '[[runners]]'  # quoted\n",
    "runners:\n  config: >\n    [[runners]]\n\n  tags: k8s\n",
    "runners:\n  config: |-\n    [[runners]]\n      [runners.kubernetes]\n        image = 'a'\n",
])
def test_other_shapes_of_values_files(text):
    new_text, edit = edit_values(text, WANTED, "values.yaml")
    before, after = yaml.safe_load(text) or {}, yaml.safe_load(new_text)
    kube = tomllib.loads(after["runners"]["config"])["runners"][0]["kubernetes"]
    assert kube[NAMESPACE_KEY] == "^(?:cicd|web-app)$"
    after["runners"].pop("config")
    (before.get("runners") or {}).pop("config", None)
    assert {k: v for k, v in after.items() if k != "runners" or v} == \
           {k: v for k, v in before.items() if k != "runners" or v}
    assert edit_values(new_text, WANTED, "values.yaml")[0] == new_text


@pytest.mark.parametrize("text, expected", [
    ("runners: [1, 2]\n", "values.yaml:1: runners must be a block mapping"),
    ("runners:\n  config: 42\n", "values.yaml:2: runners.config must be a string"),
    ("runners:\n  config: |\n    [[runners]]\n    [[runners]]\n", "has 2 [[runners]] entries"),
    ("runners:\n  config: |\n    [[runners]]\n      x = @\n", "line 2 (file line 4), column 7"),
    ("runners: [\n", "values.yaml:2: not valid YAML"),
])
def test_bad_values_files(text, expected):
    with pytest.raises(InputError) as e:
        edit_values(text, WANTED, "values.yaml")
    assert expected in str(e.value)
