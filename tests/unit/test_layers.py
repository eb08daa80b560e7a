"""Layering contracts (in the spirit of kopf's .importlinter), counting function-level imports too:

    cli > diagnose > desired > gitlab | github > cluster > model > errors

A module may import its own layer or any layer below it, never one above; gitlab and github never
import each other; only cluster/ imports kubernetes or urllib3 (and lazily, so `--help` and `render`
stay fast); no module imports itself back through a cycle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "runnerkit"
LAYERS = (  # top to bottom; a tuple is one layer of independent packages
    ("cli",),
    ("diagnose",),
    ("desired",),
    ("gitlab", "github"),
    ("cluster",),
    ("model",),
    ("errors", "__init__"),
)
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}
CLUSTER_ONLY = {"kubernetes", "urllib3"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> set[str]:
    """Every module `path` imports, anywhere in the file, as absolute dotted names (for
    `from X import a`, both X and X.a: a may be a submodule)."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.add(target)
            out |= {f"{target}.{a.name}" for a in node.names}
    return out


def modules() -> dict[str, set[str]]:
    """runnerkit module -> the runnerkit modules it imports."""
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in imports(p) if m in paths and m != name} for name, p in paths.items()}


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_module_is_in_a_layer():
    assert sorted({layer_of(m) for m in modules()} - set(RANK)) == []


def test_no_module_imports_a_layer_above_or_across():
    wrong = []
    for module, targets in sorted(modules().items()):
        for target in sorted(targets):
            mine, theirs = layer_of(module), layer_of(target)
            if mine != theirs and RANK[theirs] <= RANK[mine]:
                wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_kubernetes_and_urllib3_are_imported_only_in_cluster():
    importers = sorted(module_name(p) for p in PACKAGE.rglob("*.py")
                       if {m.split(".")[0] for m in imports(p)} & CLUSTER_ONLY)
    assert importers and all(m.startswith("runnerkit.cluster.") for m in importers), importers


def test_no_import_cycles():
    graph = modules()
    cycles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if nxt.startswith(node + "."):
                continue  # a package's __init__ importing its own submodule is not a cycle
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def must_fail(check) -> None:
    try:
        check()
    except AssertionError:
        return
    raise AssertionError(f"{check.__name__} did not notice")


def test_the_contract_catches_upward_imports_and_cycles(tmp_path, monkeypatch):
    """The checks above must be able to fail: a function-level upward import and a cycle."""
    fake = tmp_path / "runnerkit"
    (fake / "model").mkdir(parents=True)
    (fake / "cluster").mkdir()
    for p in ("__init__.py", "model/__init__.py", "cluster/__init__.py", "cluster/client.py"):
        (fake / p).write_text("")
    (fake / "model/spec.py").write_text("def f():\n    from ..cluster import client\n")
    (fake / "model/render.py").write_text("from . import plan\n")
    (fake / "model/plan.py").write_text("def f():\n    from .render import x\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    graph = modules()
    assert graph["runnerkit.model.spec"] == {"runnerkit.cluster", "runnerkit.cluster.client"}
    must_fail(test_no_module_imports_a_layer_above_or_across)
    must_fail(test_no_import_cycles)


def test_cli_start_up_and_render_do_not_load_the_kubernetes_client():
    code = ("import sys, runnerkit.cli as c; c.build_parser(); "
            "from runnerkit import desired; from runnerkit.model import render, spec, plan; "
            "print('kubernetes' in sys.modules, 'requests' in sys.modules, 'urllib3' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "False"]
