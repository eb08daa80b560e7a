"""The docs build: `mkdocs build --strict` (every internal link resolves), every page in the nav,
and a README short enough to read whose first 60 lines reach apply, verify and snippet. The console
examples are run against the API server by tests/e2e/test_docs.py."""

from __future__ import annotations

import subprocess
import sys

import yaml

from conftest import ROOT

DOCS = ROOT / "docs"


def test_mkdocs_build_strict(tmp_path):
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / "site" / "index.html").exists()
    assert (tmp_path / "site" / "tutorial" / "gitlab" / "index.html").exists()


def nav_pages(nav: list) -> set[str]:
    out: set[str] = set()
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        out |= nav_pages(value) if isinstance(value, list) else {value}
    return out


def test_every_page_is_in_the_nav():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert pages == nav_pages(config["nav"])


def test_readme_is_short_and_its_first_60_lines_reach_apply_verify_and_snippet():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 300
    head = "\n".join(lines[:60])
    for step in ("pip install", "runnerkit init", "$ runnerkit apply", "$ runnerkit verify", "$ runnerkit snippet"):
        assert step in head, step
