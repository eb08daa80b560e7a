"""Every ```console example in README.md and docs/ run as written and compared with its output
(tests/unit/test_docs.py builds the site and checks the README).

Console blocks of one page run in order, in one empty directory, against the e2e API server (they
apply and delete real objects). In an expected output, a line `...` stands for any number of lines
and `…` inside a line for any text. RUNNERKIT_DOCS_WRITE=1 writes the actual outputs back into the
pages instead of comparing (then put the `...` back where a listing is long)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import E2E_KUBECONFIG, ROOT

DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
CONSOLE = re.compile(r"^```console\n(.*?)^```$", re.M | re.S)
BIN = Path(sys.executable).parent


def console_pages() -> list[Path]:
    return [p for p in PAGES if CONSOLE.search(p.read_text())]


def split(block: str) -> list[tuple[str, list[str]]]:
    """[(command, expected output lines)] of one console block."""
    steps: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            assert steps, f"output before any command: {line!r}"
            steps[-1][1].append(line)
    return steps


def pattern(expected: list[str]) -> re.Pattern:
    parts = []
    for line in expected:
        if line.strip() in ("...", "…"):
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(".*".join(re.escape(p) for p in line.split("…")) + r"\n")
    return re.compile("".join(parts))


def matches(expected: list[str], actual: str) -> bool:
    return pattern(expected).fullmatch(actual) is not None


def run(command: str, cwd: Path) -> str:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "KUBECONFIG": str(E2E_KUBECONFIG),
           "PYTHONUNBUFFERED": "1", "COLUMNS": "100"}
    env.pop("NO_COLOR", None)
    proc = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300)
    return proc.stdout


def namespaces_of(cwd: Path) -> list[str]:
    spec = cwd / "runnerkit.yaml"
    if not spec.exists():
        return []
    out = run("runnerkit render -o json 2>/dev/null || true", cwd)
    try:
        import json

        items = json.loads(out)["items"]
    except ValueError:
        return []
    return [o["metadata"]["name"] for o in items if o["kind"] == "Namespace"]


def wait_gone(kube, names: list[str]) -> None:
    from runnerkit.model.kinds import BY_KIND

    deadline = time.monotonic() + 120
    while any(kube.get(BY_KIND["Namespace"], n) for n in names):
        assert time.monotonic() < deadline, f"namespaces still there: {names}"
        time.sleep(0.5)


@pytest.mark.e2e
@pytest.mark.parametrize("page", console_pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_console_examples_are_true(page, kube, tmp_path):
    text = page.read_text()
    failures, outputs = [], []
    try:
        for block in CONSOLE.finditer(text):
            new = []
            for command, expected in split(block.group(1)):
                if command.startswith("runnerkit init"):
                    wait_gone(kube, [n for n in ("web-app", "cicd", "mobile", "my-app")])
                actual = run(command, tmp_path)
                new.append(f"$ {command}\n{actual}")
                if not matches(expected, actual):
                    failures.append(f"$ {command}\n--- expected\n" + "\n".join(expected) + f"\n--- actual\n{actual}")
            outputs.append((block, "".join(new)))
    finally:
        names = namespaces_of(tmp_path)
        if names:
            run("runnerkit delete --delete-namespaces >/dev/null 2>&1 || true", tmp_path)
            wait_gone(kube, names)
    if os.environ.get("RUNNERKIT_DOCS_WRITE"):
        for block, new in reversed(outputs):
            text = text[:block.start(1)] + new + text[block.end(1):]
        page.write_text(text)
        return
    assert not failures, "\n\n".join(failures)
