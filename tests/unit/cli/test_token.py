"""runnerkit token without a server: --duration parsing, and nothing is minted that would go nowhere."""

from __future__ import annotations

import pytest

from conftest import one_project_spec, run_cli
from runnerkit.cli.kubeconfig import parse_duration
from runnerkit.cluster import client as kube_mod
from runnerkit.errors import InputError


@pytest.mark.parametrize("text,seconds", [("10m", 600), ("1h", 3600), ("2h30m", 9000), ("900s", 900),
                                          ("24h", 86400)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5m", "25h", "1d", "", "h", "60"])
def test_parse_duration_rejects(text):
    with pytest.raises(InputError, match="--duration"):
        parse_duration(text)


def test_nothing_is_minted_when_the_token_would_go_nowhere(tmp_path, monkeypatch):
    spec = tmp_path / "runnerkit.yaml"
    spec.write_text(one_project_spec("tok", "x"))
    monkeypatch.setattr(kube_mod, "connect", lambda *a, **k: pytest.fail("must not connect"))
    r = run_cli("token", "web", spec)
    assert r.code == 2 and "-o raw" in r.err and "--to FILE" in r.err
    r = run_cli("token", "web", spec, "-o", "kubeconfig")
    assert r.code == 2 and "--to" in r.err
    assert run_cli("token", "web", spec, "--duration", "1m", "-o", "raw").code == 2
