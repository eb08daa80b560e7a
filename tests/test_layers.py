"""Layering contracts: the kubernetes client lives in one module and is never loaded at start-up."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "runnerkit"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


def test_only_kube_py_imports_kubernetes():
    importers = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                       if "kubernetes" in imported_modules(p))
    assert importers == ["cluster/client.py"]


def test_cli_start_up_and_render_do_not_load_the_kubernetes_client():
    code = ("import sys, runnerkit.cli as c; c.build_parser(); "
            "from runnerkit.model import render, spec, plan; "
            "print('kubernetes' in sys.modules, 'requests' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
