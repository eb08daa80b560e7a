"""Token files as kubectl reads them: trimmed (client-go does), never printed, on the real API server.

Before, a token file with a trailing newline (what `runnerkit token --to` itself wrote) made every
cluster command crash with `ValueError: Invalid header value b'Bearer <the whole token>\\n'`."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from conftest import admin_cluster, kubeconfig_doc, one_project_spec, run_cli


@pytest.fixture
def minted(kube, kubeconfig, provision, unique, tmp_path):
    """(spec, namespace, token, token file written by `runnerkit token --to`)."""
    spec = provision(one_project_spec("tf", unique))
    token_file = tmp_path / "token"
    r = run_cli("token", "web", spec, "--to", token_file, "--kubeconfig", kubeconfig)
    assert r.code == 0, r
    token = token_file.read_text()
    assert token == token.strip() and token.count(".") == 2  # a bare JWT, no trailing newline
    return spec, f"rktf-{unique}", token, token_file


def assert_clean(r, token: str) -> None:
    assert "Traceback" not in r.out + r.err
    assert token not in r.out + r.err and token[-24:] not in r.out + r.err


def test_a_kubeconfig_token_file_with_a_trailing_newline_works(kubeconfig, minted, tmp_path):
    _, ns, token, token_file = minted
    token_file.write_text(token + "\n")  # `echo "$TOKEN" > token`, as people (and kubectl users) do
    server, ca = admin_cluster(kubeconfig)
    (tmp_path / "ca.crt").write_bytes(ca)
    cfg = tmp_path / "sa.kubeconfig"
    import yaml
    cfg.write_text(yaml.safe_dump(kubeconfig_doc({"server": server, "certificate-authority": "ca.crt"},
                                                 {"tokenFile": "token"}, ns)))
    r = run_cli("doctor", "--kubeconfig", cfg, "--namespace", ns, "--need", "list pods")
    assert r.code == 0, r
    assert f"list pods in namespace {ns}" in r.out
    assert_clean(r, token)


def test_the_pods_token_with_a_trailing_newline_works(kubeconfig, minted, tmp_path, monkeypatch):
    _, ns, token, _ = minted
    server, ca = admin_cluster(kubeconfig)
    sa_dir = tmp_path / "serviceaccount"
    sa_dir.mkdir()
    (sa_dir / "token").write_text(token + "\n")
    (sa_dir / "ca.crt").write_bytes(ca)
    (sa_dir / "namespace").write_text(ns)
    url = urlparse(server)
    monkeypatch.setenv("RUNNERKIT_SA_DIR", str(sa_dir))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", url.hostname)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(url.port))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    r = run_cli("doctor", "--need", "list pods")
    assert r.code == 0, r
    assert_clean(r, token)
    r = run_cli("kubeconfig", "--to", tmp_path / "out" / "kubeconfig", "--verify")
    assert r.code == 0, r
    assert f"may in namespace {ns}:" in r.err
    assert_clean(r, token)


def test_a_token_with_garbage_is_one_line_that_never_shows_it(kubeconfig, minted, tmp_path):
    spec, ns, token, token_file = minted
    server, ca = admin_cluster(kubeconfig)
    cfg = tmp_path / "sa.kubeconfig"
    import yaml
    cfg.write_text(yaml.safe_dump(kubeconfig_doc({"server": server}, {"tokenFile": str(token_file)}, ns)))
    for content in (token + "\nsecond line\n", b"\xff\xfe" + token.encode()):
        if isinstance(content, bytes):
            token_file.write_bytes(content)
        else:
            token_file.write_text(content)
        for debug in ((), ("--debug",)):
            r = run_cli(*debug, "diff", spec, "--kubeconfig", cfg)
            assert r.code == 2, r
            assert "tokenFile" in r.err and str(token_file) in r.err
            assert token not in r.out + r.err and token[-24:] not in r.out + r.err
            if not debug:
                assert "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1, r
