"""Shared pieces of the bench scripts: generated specs, timed runs, request counts, tables, cleanup.

Every tool is run as a separate process, the way a CI job runs it, so start-up is part of the time.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
if str(REPO) not in sys.path:  # runnable from a checkout without `pip install -e .`
    sys.path.insert(0, str(REPO))

COUNTED = BENCH / "counted_runnerkit.py"
PRESETS = ("helm-deployer", "pod-reader", "kpack-builder")  # each renders a Role
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
KUBECTL_REQUEST = re.compile(r"round_trippers\.go:\d+\] (GET|POST|PUT|PATCH|DELETE) (\S+) (\d{3})")


# -- generated projects ---------------------------------------------------------------------------

def spec_text(spec_name: str, prefix: str, projects: int, keep: int | None = None) -> str:
    """A spec of `projects` GitLab projects, each with a namespace, a ServiceAccount, one preset
    Role + RoleBinding and the runner manager's Role + RoleBinding: 6 objects per project.
    `keep` renders only the first `keep` projects (the rest are what --prune removes)."""
    lines = [
        "apiVersion: runnerkit.io/v1alpha1",
        "kind: RunnerkitConfig",
        f"metadata: {{name: {spec_name}}}",
        "runners:",
        f"  - {{name: gl, type: gitlab, namespace: {prefix}-runner, release: gitlab-runner}}",
        "defaults:",
        "  runner: gl",
        f'  namespace: "{prefix}-{{project}}"',
        "  namespaceLabels: {pod-security.kubernetes.io/enforce: baseline}",
        "projects:",
    ]
    for i in range(projects if keep is None else keep):
        lines.append(f"  - {{name: p{i:04d}, access: [{{preset: {PRESETS[i % len(PRESETS)]}}}]}}")
    return "\n".join(lines) + "\n"


def write_spec(directory: Path, spec_name: str, prefix: str, projects: int, keep: int | None = None) -> Path:
    path = directory / f"{spec_name}{'' if keep is None else '-keep'}.yaml"
    path.write_text(spec_text(spec_name, prefix, projects, keep))
    return path


def run_id() -> str:
    return uuid.uuid4().hex[:5]


# -- running tools --------------------------------------------------------------------------------

@dataclass
class Run:
    seconds: float
    out: str
    err: str
    requests: int | None = None
    writes: int | None = None
    extra: dict = field(default_factory=dict)


def timed(argv: list[str], *, stdin: str | None = None, env: dict | None = None) -> Run:
    start = time.perf_counter()
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"bench: `{' '.join(map(str, argv[:6]))} ...` exited {proc.returncode}:\n"
                         f"{proc.stderr[-3000:]}")
    return Run(seconds, proc.stdout, proc.stderr)


def runnerkit_argv() -> list[str]:
    """The installed `runnerkit` script if there is one, else the module from this checkout."""
    found = shutil.which("runnerkit")
    return [found] if found else [sys.executable, "-m", "runnerkit.cli"]


def runnerkit_counted(*args: str, workdir: Path) -> Run:
    """`runnerkit ARGS` in its own process, with every HTTP request counted below the client."""
    counts = workdir / f"counts-{uuid.uuid4().hex[:8]}.json"
    run = timed([sys.executable, str(COUNTED), str(counts), *args])
    data = json.loads(counts.read_text())
    counts.unlink()
    run.requests = sum(data.values())
    run.writes = sum(n for method, n in data.items() if method in WRITE_METHODS)
    run.extra["by_method"] = data
    return run


def kubectl_counted(kubectl: str, kubeconfig: str, cache_dir: Path, *args: str, stdin: str | None = None) -> Run:
    """kubectl at -v=6 logs one line per HTTP response; count those (the logging costs < 1%)."""
    run = timed([kubectl, "--kubeconfig", kubeconfig, "--cache-dir", str(cache_dir), "-v=6", *args],
                stdin=stdin)
    methods: dict[str, int] = {}
    for match in KUBECTL_REQUEST.finditer(run.err):
        methods[match.group(1)] = methods.get(match.group(1), 0) + 1
    run.requests = sum(methods.values())
    run.writes = sum(n for m, n in methods.items() if m in WRITE_METHODS)
    run.extra["by_method"] = methods
    return run


def find_kubectl(explicit: str | None) -> str:
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise SystemExit(f"bench: --kubectl {explicit}: not an executable file")
        return explicit
    cache = Path(os.environ.get("RUNNERKIT_CACHE", Path.home() / ".cache" / "runnerkit"))
    path = cache / "tools" / "v32" / "kubectl"
    if not path.exists():
        print("bench: fetching kubectl 1.32 (scripts/fetch-helm-kubectl v32)", file=sys.stderr)
        subprocess.run([str(REPO / "scripts" / "fetch-helm-kubectl"), "v32"], check=True,
                       stdout=subprocess.DEVNULL)
    return str(path)


def find_kubeconfig(explicit: str | None) -> str:
    path = explicit or os.environ.get("RUNNERKIT_E2E_KUBECONFIG")
    if not path:
        raise SystemExit("bench: pass --kubeconfig FILE or set RUNNERKIT_E2E_KUBECONFIG "
                         "(start a cluster: RUNNERKIT_E2E_DIR=/tmp/runnerkit-bench scripts/e2e-cluster up)")
    if not Path(path).exists():
        raise SystemExit(f"bench: --kubeconfig {path}: no such file")
    return path


# -- cluster clean-up -----------------------------------------------------------------------------

def admin_client(kubeconfig: str, concurrency: int = 16):
    from runnerkit.cluster.client import connect

    return connect(kubeconfig, concurrency=concurrency)


def namespaces_with_prefix(client, prefix: str) -> list[dict]:
    from runnerkit.model.kinds import BY_KIND

    return [ns for ns in client.list_objects(BY_KIND["Namespace"]) if ns["metadata"]["name"].startswith(prefix)]


def delete_namespaces(client, prefix: str, *, wait: float = 600) -> float:
    """Delete every namespace named PREFIX* and wait until they are gone, so the namespace
    controller's work does not slow down the next measurement. Returns the seconds waited."""
    start = time.perf_counter()
    client.parallel(lambda ns: client.delete(ns), namespaces_with_prefix(client, prefix))
    while wait and namespaces_with_prefix(client, prefix):
        if time.perf_counter() - start > wait:
            print(f"bench: namespaces {prefix}* still terminating after {wait:.0f}s; moving on", file=sys.stderr)
            break
        time.sleep(1)
    return time.perf_counter() - start


# -- results --------------------------------------------------------------------------------------

def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def machine() -> dict:
    cpu = ""
    try:
        cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                    if line.startswith("model name")), "")
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "platform": platform.platform()}


def table(headers: list[str], rows: list[list]) -> str:
    cells = [[fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = lambda row: "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |"  # noqa: E731
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|",
                      *(line(r) for r in cells)])


def fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def ratio(slow: float | None, fast: float | None) -> float | None:
    return slow / fast if slow and fast else None


def write_json(path: str | None, data: dict) -> None:
    if not path:
        return
    Path(path).write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {path}", file=sys.stderr)
