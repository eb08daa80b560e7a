"""runnerkit kubeconfig without a cluster: the document, the file, the shell lines, the errors."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import run_cli
from runnerkit.cluster import kubeconfig as kc
from runnerkit.cluster.incluster import server_url
from runnerkit.errors import InputError

CA = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
# A JWT-shaped token whose claims say system:serviceaccount:web:web-ci (signature irrelevant here).
TOKEN = ("eyJhbGciOiJSUzI1NiJ9."
         "eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6d2ViOndlYi1jaSIsImV4cCI6NDEwMjQ0NDgwMH0.c2ln")


def fake_pod(root: Path, namespace: str | None = "web", token: str = TOKEN) -> Path:
    """The kubelet's layout: files are symlinks through ..data to a timestamped directory."""
    sa = root / "serviceaccount"
    data = sa / "..2024_01_01_00_00_00.000000001"
    data.mkdir(parents=True)
    (data / "token").write_text(token)
    (data / "ca.crt").write_text(CA)
    if namespace:
        (data / "namespace").write_text(namespace)
    (sa / "..data").symlink_to(data.name)
    for name in ("token", "ca.crt") + (("namespace",) if namespace else ()):
        (sa / name).symlink_to(f"..data/{name}")
    return sa


@pytest.fixture
def pod(tmp_path, monkeypatch):
    sa = fake_pod(tmp_path)
    monkeypatch.setenv("RUNNERKIT_SA_DIR", str(sa))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    monkeypatch.delenv("RUNNER_TEMP", raising=False)
    monkeypatch.delenv("GITHUB_ENV", raising=False)
    return sa


def test_server_url_brackets_ipv6_only():
    assert server_url("10.96.0.1", "443") == "https://10.96.0.1:443"
    assert server_url("fd00:10:96::1", 443) == "https://[fd00:10:96::1]:443"
    assert server_url("[fd00::1]", "6443") == "https://[fd00::1]:6443"
    assert server_url("kubernetes.default.svc", None) == "https://kubernetes.default.svc:443"


def test_token_file_document_references_files_and_pins_namespace():
    doc = kc.from_token_file("https://10.96.0.1:443", "/sa/ca.crt", "/sa/token", "web")
    assert doc["clusters"] == [{"name": "kubernetes", "cluster": {"server": "https://10.96.0.1:443",
                                                                 "certificate-authority": "/sa/ca.crt"}}]
    assert doc["users"] == [{"name": "serviceaccount", "user": {"tokenFile": "/sa/token"}}]
    assert doc["contexts"][0]["context"] == {"cluster": "kubernetes", "user": "serviceaccount", "namespace": "web"}
    assert doc["current-context"] == "runnerkit"
    assert set(doc["users"][0]["user"]) == {"tokenFile"}  # no copied token


def test_token_document_embeds_ca_data():
    doc = kc.from_token("https://k:6443", "tok", "web", CA.encode(), "web-ci@web")
    cluster = doc["clusters"][0]["cluster"]
    import base64
    assert base64.b64decode(cluster["certificate-authority-data"]).decode() == CA
    assert doc["users"][0] == {"name": "web-ci@web", "user": {"token": "tok"}}
    assert "certificate-authority-data" not in kc.from_token("https://k", "t", "n", None)["clusters"][0]["cluster"]


@pytest.mark.parametrize("path", ["/tmp/plain/kubeconfig", "/tmp/it's here/$HOME `x`"])
def test_sh_export_line_survives_eval(path):
    line = kc.export_line(path, "sh")
    out = subprocess.run(["bash", "-c", f'{line}; printf %s "$KUBECONFIG"'], capture_output=True,
                         text=True, check=True).stdout
    assert out == path


def test_other_shell_lines():
    assert kc.export_line("/t/k", "fish") == "set -gx KUBECONFIG '/t/k'"
    assert kc.export_line("/t/it's", "powershell") == "$env:KUBECONFIG = '/t/it''s'"
    assert kc.export_line("/t/k", "github") == "KUBECONFIG=/t/k"
    with pytest.raises(InputError):
        kc.export_line("/t/a\nEVIL=1", "github")


def test_check_server_requires_https():
    assert kc.check_server("https://k:6443/") == "https://k:6443"
    for bad in ("http://k:6443", "k:6443", "https://"):
        with pytest.raises(InputError, match="https://"):
            kc.check_server(bad)


def test_writes_0600_file_and_prints_export_line(pod, tmp_path):
    target = tmp_path / "out" / "kubeconfig"
    r = run_cli("kubeconfig", "--to", target)
    assert r.code == 0, r
    assert r.out == f"export KUBECONFIG={target}\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    doc = yaml.safe_load(target.read_text())
    assert doc["clusters"][0]["cluster"] == {"server": "https://10.96.0.1:443",
                                             "certificate-authority": str(pod / "ca.crt")}
    # The symlink path, not its ..data target: the kubelet swaps ..data when it rotates the token.
    assert doc["users"][0]["user"] == {"tokenFile": str(pod / "token")}
    assert doc["contexts"][0]["context"]["namespace"] == "web"
    assert TOKEN not in target.read_text() + r.out + r.err
    assert "system:serviceaccount:web:web-ci" in r.err


def test_rewrites_existing_file_with_0600(pod, tmp_path):
    target = tmp_path / "kubeconfig"
    target.write_text("old")
    target.chmod(0o644)
    assert run_cli("kubeconfig", "--to", target, "-n", "other").code == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert yaml.safe_load(target.read_text())["contexts"][0]["context"]["namespace"] == "other"


def test_ipv6_service_host(pod, tmp_path, monkeypatch):
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1")
    target = tmp_path / "k"
    assert run_cli("kubeconfig", "--to", target).code == 0
    assert yaml.safe_load(target.read_text())["clusters"][0]["cluster"]["server"] == "https://[fd00:10:96::1]:443"


def test_default_path_in_a_github_job_and_github_shell(pod, tmp_path, monkeypatch):
    env_file = tmp_path / "github_env"
    env_file.write_text("EXISTING=1\n")
    monkeypatch.setenv("RUNNER_TEMP", str(tmp_path / "runner-temp"))
    monkeypatch.setenv("GITHUB_ENV", str(env_file))
    r = run_cli("kubeconfig", "--shell", "github")
    assert r.code == 0, r
    expected = tmp_path / "runner-temp" / "runnerkit" / "kubeconfig"
    assert expected.is_file()
    assert env_file.read_text() == f"EXISTING=1\nKUBECONFIG={expected}\n"
    assert r.out == ""


def test_github_shell_outside_github_is_an_input_error(pod, tmp_path):
    r = run_cli("kubeconfig", "--shell", "github", "--to", tmp_path / "k")
    assert r.code == 2 and "GITHUB_ENV is not set" in r.err
    assert not (tmp_path / "k").exists()


def test_not_in_a_pod_lists_everything_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("RUNNERKIT_SA_DIR", str(tmp_path / "nothing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    target = tmp_path / "k"
    r = run_cli("kubeconfig", "--to", target)
    assert r.code == 2
    assert "KUBERNETES_SERVICE_HOST is not set" in r.err and "--server" in r.err
    assert f"{tmp_path / 'nothing' / 'token'} does not exist" in r.err and "--token-file" in r.err
    assert "ca.crt does not exist" in r.err and "--ca-file" in r.err
    assert "no namespace" in r.err and "--namespace" in r.err
    assert not target.exists()


def test_outside_a_pod_with_explicit_files(tmp_path, monkeypatch):
    monkeypatch.setenv("RUNNERKIT_SA_DIR", str(tmp_path / "nothing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    (tmp_path / "t").write_text(TOKEN)
    (tmp_path / "ca").write_text(CA)
    target = tmp_path / "k"
    monkeypatch.chdir(tmp_path)
    r = run_cli("kubeconfig", "--to", target, "--server", "https://k8s.example:6443", "--ca-file", "ca",
                "--token-file", "t", "-n", "web")
    assert r.code == 0, r
    doc = yaml.safe_load(target.read_text())
    assert doc["clusters"][0]["cluster"] == {"server": "https://k8s.example:6443",
                                             "certificate-authority": str(tmp_path / "ca")}
    assert doc["users"][0]["user"]["tokenFile"] == str(tmp_path / "t")


def test_missing_namespace_file_needs_flag(tmp_path, monkeypatch):
    monkeypatch.setenv("RUNNERKIT_SA_DIR", str(fake_pod(tmp_path, namespace=None)))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    r = run_cli("kubeconfig", "--to", tmp_path / "k")
    assert r.code == 2 and "no namespace" in r.err and "pass --namespace NAME" in r.err
    assert run_cli("kubeconfig", "--to", tmp_path / "k", "--namespace", "web").code == 0


def test_bad_ca_and_empty_token_are_refused(pod, tmp_path):
    (tmp_path / "ca").write_text("not a cert")
    r = run_cli("kubeconfig", "--to", tmp_path / "k", "--ca-file", tmp_path / "ca")
    assert r.code == 2 and "no PEM certificate" in r.err
    (tmp_path / "empty").write_text("")
    r = run_cli("kubeconfig", "--to", tmp_path / "k", "--token-file", tmp_path / "empty")
    assert r.code == 2 and "is empty" in r.err
    assert not (tmp_path / "k").exists()


def test_no_kubernetes_import_needed_without_verify(pod, tmp_path):
    code = ("import sys, os; from runnerkit import cli; "
            f"rc = cli.main(['kubeconfig', '--to', {str(tmp_path / 'k')!r}]); "
            "print(rc, 'kubernetes' in sys.modules)")
    out = subprocess.run(["python", "-c", code], capture_output=True, text=True, env=dict(os.environ)).stdout
    assert out.split()[-2:] == ["0", "False"]


def test_a_binary_token_file_is_an_input_error_naming_the_file(pod, tmp_path):
    token = tmp_path / "token.bin"
    token.write_bytes(b"\xff\xfe\x00binary")
    r = run_cli("kubeconfig", "--to", tmp_path / "kc", "--token-file", token)
    assert r.code == 2 and f"--token-file {token}: not a token (not UTF-8 text)" in r.err, r
