"""The CLI boundary: unexpected errors are one line and exit 4; everything printed is redacted;
property-based: the spec loader and the template editor never crash or hang on random input."""

from __future__ import annotations


import pytest
import tomlkit
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import run_cli
from runnerkit.cli import core
from runnerkit.model import redact
from runnerkit.model.validate import loads
from runnerkit.errors import RunnerkitError

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJib3VuZGFyeSJ9.c2lnbmF0dXJlLWJvdW5kYXJ5LXRva2Vu"


def test_an_unexpected_error_is_one_line_exit_4_and_masked(monkeypatch, tmp_path):
    def boom(args):
        raise ValueError(f"Invalid header value b'Bearer {JWT}\\n'")
    monkeypatch.setattr(core, "cmd_validate", boom)
    monkeypatch.chdir(tmp_path)
    r = run_cli("validate")
    assert r.code == 4
    lines = r.err.strip().splitlines()
    assert lines[0].startswith("internal error: ValueError: Invalid header value") and "please report" in lines[1]
    assert len(lines) == 2 and JWT not in r.err and "Traceback" not in r.err
    debug = run_cli("--debug", "validate")
    assert debug.code == 4 and "Traceback (most recent call last)" in debug.err and JWT not in debug.err


@pytest.mark.parametrize("text", [
    f"Authorization: Bearer {JWT}", "PRIVATE-TOKEN: glpat-abcdefgh12345678", '{"token": "' + JWT + '"}',
    "token ghp_abcdefghijklmnop1234567890", "Bearer opaque-token-value-123456", "private-token=s3cr3tvalue99",
])
def test_redactor_masks_tokens(text):
    out = redact.redact(text)
    assert "***" in out
    for secret in (JWT, "glpat-abcdefgh12345678", "ghp_abcdefghijklmnop1234567890", "opaque-token-value-123456",
                   "s3cr3tvalue99"):
        assert secret not in out


def test_registered_secrets_are_masked_even_split_over_writes(capsys):
    import io
    redact.register("plain-opaque-secret-from-a-file")
    sink = io.StringIO()
    stream = redact.RedactingStream(sink)
    for piece in ('{"value": "plain-opaque-', 'secret-from-a-file"}', "\n"):
        stream.write(piece)
    stream.flush()
    assert "plain-opaque-secret" not in sink.getvalue() and "***" in sink.getvalue()


def test_redactor_leaves_ordinary_output_alone():
    text = "serviceaccount/web-ci -n web created\nthe bearer token file is re-read on every use"
    assert redact.redact(text) == text


def test_token_output_asked_for_by_name_is_not_masked(monkeypatch, capsys):
    """`token -o raw` prints the secret on purpose: it bypasses the redactor (raw stream)."""
    import sys
    stream = redact.RedactingStream(sys.stdout)
    redact.raw(stream).write(JWT + "\n")
    assert JWT in capsys.readouterr().out


# -- property-based -------------------------------------------------------------------------------

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                    st.text(max_size=20))
documents = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)), max_leaves=30)
KEYS = ["apiVersion", "kind", "metadata", "runners", "defaults", "projects", "name", "namespace", "runner",
        "access", "rules", "preset", "gitlab", "github", "resourceQuota", "limitRange", "hard", "groups"]
spec_like = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)), max_leaves=40)


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(documents, spec_like))
def test_spec_loader_never_crashes(doc):
    try:
        text = yaml.safe_dump(doc)
    except yaml.YAMLError:
        return
    try:
        loads(text, "random.yaml")
    except RunnerkitError:
        pass


@settings(max_examples=200, deadline=2000)
@given(st.text(max_size=300))
def test_spec_loader_never_crashes_on_random_text(text):
    try:
        loads(text, "random.yaml")
    except RunnerkitError:
        pass


toml_values = st.recursive(st.one_of(st.booleans(), st.integers(-10**6, 10**6), st.text(max_size=15)),
                           lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                   st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True),
                                                                   inner, max_size=3)), max_leaves=20)


@settings(max_examples=200, deadline=3000)
@given(st.dictionaries(st.sampled_from(["runners", "concurrent", "kubernetes", "namespace", "x"]), toml_values,
                       max_size=4))
def test_template_editor_never_crashes(doc):
    from runnerkit.gitlab.template import edit_template, wanted_for

    try:
        text = tomlkit.dumps(doc)
    except Exception:
        return
    loaded = loads(GOOD_GITLAB, "g.yaml")
    wanted = wanted_for(loaded, loaded.runners["gl"])
    try:
        edit_template(text, wanted, "template.toml", "gitlab-runner")
    except RunnerkitError:
        pass


@settings(max_examples=150, deadline=3000)
@given(st.text(max_size=300))
def test_template_editor_never_crashes_on_random_text(text):
    from runnerkit.gitlab.template import edit_template, wanted_for

    loaded = loads(GOOD_GITLAB, "g.yaml")
    wanted = wanted_for(loaded, loaded.runners["gl"])
    try:
        edit_template(text, wanted, "template.toml", "gitlab-runner")
    except RunnerkitError:
        pass


GOOD_GITLAB = """apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata: {name: g}
runners: [{name: gl, type: gitlab, namespace: gitlab-runner}]
projects: [{name: web, runner: gl}]
"""
