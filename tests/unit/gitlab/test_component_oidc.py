"""The runnerkit-oidc GitLab CI/CD component (templates/runnerkit-oidc.yml): GitLab's schema and input
rules, shellcheck, and its before_script run with a job's ID token, with and without runnerkit in the
image. The real API server: tests/e2e/test_ci_oidc.py."""

from __future__ import annotations

import re
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import FIXTURES, ROOT, run_cli
from oidc_issuer import Keys, gitlab_claims
from unit.cluster.test_kubeconfig import CA
from unit.github.test_ci_templates import tool_dir
from unit.gitlab.test_snippets import gitlab_ci_schema_errors

TEMPLATE = ROOT / "ci-templates" / "gitlab" / "templates" / "runnerkit-oidc.yml"
EXAMPLE = ROOT / "ci-templates" / "gitlab" / "examples" / "oidc.gitlab-ci.yml"
INPUT = re.compile(r"\$\[\[\s*inputs\.([a-z_]+)\s*\]\]")
JOB = ".runnerkit-oidc"
TOOLS = ("sh", "mktemp", "printenv")  # beyond the shell tools the action tests link
AUD = "https://kubernetes.example.com"
KEYS = Keys()


def documents() -> tuple[dict, str]:
    header, body = TEMPLATE.read_text().split("\n---\n")
    return yaml.safe_load(header)["spec"]["inputs"], body


def interpolate(inputs: dict) -> dict:
    """The hidden job as GitLab includes it: required inputs given, types and regexes (RE2) checked,
    defaults applied, every $[[ inputs.x ]] replaced."""
    import re2

    spec, body = documents()
    unknown = set(inputs) - set(spec)
    assert not unknown, f"unknown inputs {unknown}"
    values = {}
    for name, rule in spec.items():
        assert name in inputs or "default" in rule, f"input {name} is required"
        value = inputs.get(name, rule.get("default"))
        if rule["type"] == "boolean":
            assert isinstance(value, bool), f"{name} must be a boolean"
            value = str(value).lower()
        else:
            assert isinstance(value, str), name
            assert "regex" not in rule or re2.search(rule["regex"], value), f"input {name}={value!r} fails its regex"
        values[name] = value
    return yaml.safe_load(INPUT.sub(lambda m: values[m[1]], body))[JOB]


def before_script(**inputs) -> str:
    [script] = interpolate({"audience": AUD, "namespace": "app", **inputs})["before_script"]
    return script


def gitlab_token(project: str = "acme/app", **kw) -> str:
    return KEYS.sign(gitlab_claims("https://gitlab.com", AUD, project, **kw))


def run_job(tmp_path: Path, script: str, env: dict, *, runnerkit: bool = False, extra_tools: tuple = (),
            shell: str = "bash", then: str = 'echo "KUBECONFIG=$KUBECONFIG"') -> subprocess.CompletedProcess:
    """The before_script and then the job's script in one shell, as GitLab Runner runs them."""
    path = tool_dir(tmp_path, *TOOLS, *extra_tools, runnerkit=runnerkit)
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    return subprocess.run([shell, "-e", "-c", script + "\n" + then], capture_output=True, text=True, timeout=120,
                          env={"PATH": str(path), "HOME": str(tmp_path), "TMPDIR": str(tmp), **env})


def kubeconfig_of(r: subprocess.CompletedProcess) -> Path:
    [line] = [line for line in r.stdout.splitlines() if line.startswith("KUBECONFIG=")]
    return Path(line.removeprefix("KUBECONFIG="))


# -- GitLab's rules ----------------------------------------------------------------------------------


def test_header_body_and_example_are_valid_gitlab_ci(tmp_path):
    header, body = TEMPLATE.read_text().split("\n---\n")
    (tmp_path / "header.yml").write_text(header)
    (tmp_path / "body.yml").write_text(body)
    assert gitlab_ci_schema_errors(tmp_path / "header.yml", tmp_path / "body.yml", EXAMPLE) == ""


def test_one_hidden_job_requesting_the_id_token_for_the_audience_input():
    spec, body = documents()
    assert set(spec) == {"audience", "server", "namespace", "ca_variable", "verify"}
    assert all(rule.get("type") and rule.get("description") for rule in spec.values())
    assert set(INPUT.findall(body)) == set(spec)  # every input is used, none undeclared
    assert "default" not in spec["audience"] and "default" not in spec["namespace"]
    assert spec["server"]["default"] == "$KUBE_SERVER" and spec["ca_variable"]["default"] == "KUBE_CA"
    assert list(yaml.safe_load(body)) == [JOB]  # nothing else leaks into the including pipeline
    job = interpolate({"audience": AUD, "namespace": "app"})
    assert job["id_tokens"] == {"RUNNERKIT_ID_TOKEN": {"aud": AUD}}
    assert set(job) == {"id_tokens", "before_script"}


@pytest.mark.parametrize("name,good,bad", [
    ("audience", ["https://k8s.example.com", "runnerkit-e2e-1"], ["a b", "it's", 'a"b', "$X", "a\\b", ""]),
    ("server", ["https://k8s.example.com:6443", "$KUBE_SERVER", "$MY_SERVER_2"],
     ["http://k8s.example.com", "https://a b", "https://x'y", "$KUBE SERVER", "${X}", "https://$X", ""]),
    ("namespace", ["app", "web-app"], ["App", "-x", "a_b", "x" * 64, ""]),
    ("ca_variable", ["KUBE_CA", "", "_X1"], ["1X", "KUBE-CA", "$KUBE_CA", "a b"]),
])
def test_input_regexes_keep_the_script_safe(name, good, bad):
    import re2

    regex = re2.compile(documents()[0][name]["regex"])
    assert [g for g in good if not regex.search(g)] == []
    assert [b for b in bad if regex.search(b)] == []


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_shellcheck_the_before_script(tmp_path, shell):
    path = tmp_path / "before.sh"
    path.write_text(before_script())
    r = subprocess.run(["shellcheck", f"--shell={shell}", str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout


# -- running the before_script -------------------------------------------------------------------------


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_without_runnerkit_a_token_file_kubeconfig(tmp_path, shell):
    token = gitlab_token()
    r = run_job(tmp_path, before_script(verify=False),
                {"RUNNERKIT_ID_TOKEN": token, "KUBE_SERVER": "https://k8s.example.com:6443", "KUBE_CA": CA},
                shell=shell)
    assert r.returncode == 0, r.stderr
    path = kubeconfig_of(r)
    assert path.parent.parent == tmp_path / "tmp" and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = yaml.safe_load(path.read_text())
    assert doc["clusters"][0]["cluster"] == {"server": "https://k8s.example.com:6443",
                                             "certificate-authority": str(path.parent / "ca.crt")}
    assert (path.parent / "ca.crt").read_text().strip() == CA.strip()
    token_file = Path(doc["users"][0]["user"]["tokenFile"])
    assert token_file.read_text() == token and stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert doc["contexts"][0]["context"] == {"cluster": "kubernetes", "user": "gitlab-oidc", "namespace": "app"}
    assert doc["current-context"] == "runnerkit"
    assert token not in r.stdout + r.stderr


def test_server_input_a_url_and_the_ca_from_a_file_variable(tmp_path):
    (tmp_path / "ca-file").write_text(CA)
    r = run_job(tmp_path, before_script(verify=False, server="https://10.0.0.1:6443", ca_variable="MY_CA"),
                {"RUNNERKIT_ID_TOKEN": gitlab_token(), "MY_CA": str(tmp_path / "ca-file")})
    assert r.returncode == 0, r.stderr
    doc = yaml.safe_load(kubeconfig_of(r).read_text())
    assert doc["clusters"][0]["cluster"]["server"] == "https://10.0.0.1:6443"
    assert Path(doc["clusters"][0]["cluster"]["certificate-authority"]).read_text().strip() == CA.strip()


def test_no_ca_means_the_system_trust(tmp_path):
    r = run_job(tmp_path, before_script(verify=False, ca_variable=""),
                {"RUNNERKIT_ID_TOKEN": gitlab_token(), "KUBE_SERVER": "https://k8s.example.com"})
    assert r.returncode == 0, r.stderr
    assert yaml.safe_load(kubeconfig_of(r).read_text())["clusters"][0]["cluster"] == {"server": "https://k8s.example.com"}


def test_with_runnerkit_the_exec_plugin_reads_the_variable(tmp_path):
    token = gitlab_token()
    r = run_job(tmp_path, before_script(verify=False),
                {"RUNNERKIT_ID_TOKEN": token, "KUBE_SERVER": "https://k8s.example.com:6443", "KUBE_CA": CA},
                runnerkit=True)
    assert r.returncode == 0, r.stderr
    path = kubeconfig_of(r)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = yaml.safe_load(path.read_text())
    user = doc["users"][0]["user"]
    assert set(user) == {"exec"} and user["exec"]["args"] == ["credential", "gitlab", "--audience", AUD]
    assert Path(user["exec"]["command"]).name == "runnerkit"
    assert doc["contexts"][0]["context"]["namespace"] == "app"
    assert sorted(p.name for p in path.parent.iterdir()) == ["ca.crt", "kubeconfig"]  # no token file
    assert token not in r.stdout + r.stderr + path.read_text()


def test_with_runnerkit_a_token_for_another_audience_fails_before_the_script(tmp_path):
    token = KEYS.sign(gitlab_claims("https://gitlab.com", "https://other.example", "acme/app"))
    r = run_job(tmp_path, before_script(verify=False), {"RUNNERKIT_ID_TOKEN": token, "KUBE_SERVER": "https://k"},
                runnerkit=True, then="echo SCRIPT RAN")
    assert r.returncode == 1 and "SCRIPT RAN" not in r.stdout
    assert "not 'https://kubernetes.example.com'" in r.stderr and token not in r.stderr


@pytest.mark.parametrize("env,message", [
    ({"KUBE_SERVER": "https://k"}, "RUNNERKIT_ID_TOKEN is empty"),
    ({"RUNNERKIT_ID_TOKEN": "x.y.z"}, "not an https:// URL: set the server input, or the CI/CD variable"),
    ({"RUNNERKIT_ID_TOKEN": "x.y.z", "KUBE_SERVER": 'https://k"x'}, "contains a quote"),
    ({"RUNNERKIT_ID_TOKEN": "x.y.z", "KUBE_SERVER": "https://k", "KUBE_CA": "not pem"}, "$KUBE_CA holds no PEM"),
])
def test_clear_errors_and_the_script_does_not_run(tmp_path, env, message):
    r = run_job(tmp_path, before_script(verify=False), env, then="echo SCRIPT RAN")
    assert r.returncode == 1 and "SCRIPT RAN" not in r.stdout
    assert message in r.stderr


# -- the snippet uses the component ---------------------------------------------------------------------


def test_the_gitlab_oidc_snippet_includes_the_component_with_valid_inputs(tmp_path):
    result = run_cli("snippet", "gitlab", "app", FIXTURES / "identities.yaml")
    assert result.code == 0, result
    doc = yaml.safe_load(result.out)
    [include] = doc["include"]
    assert include["component"].endswith("/runnerkit-oidc@1.0.0")
    job = interpolate(include["inputs"])  # what GitLab would include: inputs pass the template's rules
    assert job["id_tokens"] == {"RUNNERKIT_ID_TOKEN": {"aud": "https://kubernetes.example.com"}}
    assert include["inputs"]["namespace"] == "app"
    deploy = doc["deploy"]
    assert deploy["extends"] == JOB and "id_tokens" not in deploy and "before_script" not in deploy
    assert deploy["environment"] == "production"
    assert deploy["rules"] == [{"if": '$CI_COMMIT_BRANCH == "main"'}]
    path = tmp_path / ".gitlab-ci.yml"
    path.write_text(result.out)
    assert gitlab_ci_schema_errors(path) == ""


def test_the_example_includes_the_component():
    doc = yaml.safe_load(EXAMPLE.read_text())
    [include] = doc["include"]
    assert include["component"].endswith("/runnerkit-oidc@1.0.0")
    interpolate(include["inputs"])
    assert all(job.get("extends") == JOB for name, job in doc.items() if name not in ("include", "stages"))


def test_an_empty_id_token_says_that_a_jobs_own_id_tokens_add_to_ours(tmp_path):
    """extends deep-merges hashes: a job's own id_tokens: keeps RUNNERKIT_ID_TOKEN unless it redefines it."""
    r = run_job(tmp_path, before_script(verify=False), {"KUBE_SERVER": "https://k"}, then="echo SCRIPT RAN")
    assert r.returncode == 1 and "SCRIPT RAN" not in r.stdout
    assert "extends merges a job's own id_tokens: with ours" in r.stderr and "replaces" not in r.stderr
    assert f"keep RUNNERKIT_ID_TOKEN: {{aud: {AUD}}}" in r.stderr
