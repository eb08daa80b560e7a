"""`runnerkit verify` against the naive per-account kubectl sweep, on a real API server, for N
generated projects (the spec of bench/apply.py): requests, wall time and peak memory.

    python bench/verify.py --projects 10 100 500 --kubectl-accounts 20 --json verify.json

For each N the spec is applied first (not measured). Then:

  runnerkit  `runnerkit verify SPEC -o json`, one process; requests counted at its connection pool
             (counted_runnerkit.py), peak memory from the kernel's accounting of that process.
  kubectl    what a user would script per ServiceAccount: `kubectl auth can-i --list --as=SA -n NS`,
             plus one `kubectl auth can-i VERB RESOURCE --as=SA` per deny-probe runnerkit plans for the
             account (its own namespace, kube-system, default, a missing namespace, cluster-wide), one
             process after another. It takes about 0.05 s per process, so for large N it runs for
             --kubectl-accounts accounts spread over the spec, and time and requests are scaled to all
             accounts (the table says so); peak memory is the largest single process.

Everything created is deleted at the end, and the script waits for the namespaces to be gone.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib as b  # noqa: E402

TARGET_SECONDS, TARGET_MB = 10.0, 300.0
LAST_CPU = 0.0
# kubectl >= 1.33 logs responses as structured lines; older ones as benchlib.KUBECTL_REQUEST matches
KUBECTL_RESPONSE = re.compile(r'round_trippers\.go:\d+\] "Response" verb="(\w+)"')


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--projects", type=int, nargs="+", default=[10, 100, 500], metavar="N")
    p.add_argument("--kubectl-accounts", type=int, default=20, metavar="K",
                   help="run the kubectl sweep for at most K accounts and scale to all (0: every account)")
    p.add_argument("--kubeconfig", help="default: $RUNNERKIT_E2E_KUBECONFIG")
    p.add_argument("--kubectl", help="default: kubectl 1.37 from the e2e cache, else 1.32 (fetch-helm-kubectl)")
    p.add_argument("--settle", type=float, default=5, metavar="SECONDS")
    p.add_argument("--no-wait", action="store_true", help="delete what was created but do not wait for it")
    p.add_argument("--json", metavar="FILE", help="write the results here")
    args = p.parse_args(argv)

    kubeconfig = b.find_kubeconfig(args.kubeconfig)
    kubectl = args.kubectl or find_kubectl()
    admin = b.admin_client(kubeconfig)
    work = Path(tempfile.mkdtemp(prefix="runnerkit-bench-"))
    try:
        results = []
        for n in args.projects:
            prefix = f"rkv{b.run_id()}"
            try:
                results.append(one_size(n, prefix, kubeconfig, kubectl, work, args))
            finally:
                waited = b.delete_namespaces(admin, prefix, wait=0 if args.no_wait else 900)
                print(f"  cleaned up {prefix}* ({waited:.0f}s)", file=sys.stderr)
        checks = targets(results)
        print(render_table(results))
        for line in checks:
            print(f"target: {line['target']}: {'met' if line['met'] else 'NOT met'} ({line['measured']})")
        b.write_json(args.json, {"benchmark": "verify", "machine": b.machine(), "kubectl": kubectl_version(kubectl),
                                 "results": results, "targets": checks})
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)  # no runnerkit-bench-* left in /tmp


def find_kubectl() -> str:
    cache = Path(os.environ.get("RUNNERKIT_CACHE", Path.home() / ".cache" / "runnerkit")) / "tools"
    v37 = cache / "v37" / "kubectl"
    return str(v37) if os.access(v37, os.X_OK) else b.find_kubectl(None)


def measured(argv: list[str], ok_codes: tuple[int, ...] = (0,)) -> tuple[float, str, str, float]:
    """Run a process; (seconds, stdout, stderr, its own peak RSS in MB from wait4). Its CPU seconds
    (user + system) go to LAST_CPU: on a shared machine they show the cost without the waiting."""
    global LAST_CPU
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        LAST_CPU = usage.ru_utime + usage.ru_stime
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode not in ok_codes:
        raise SystemExit(f"bench: `{' '.join(map(str, argv[:6]))} ...` exited {proc.returncode}:\n{stderr[-3000:]}")
    return seconds, stdout, stderr, usage.ru_maxrss / 1024


def one_size(n: int, prefix: str, kubeconfig: str, kubectl: str, work: Path, args) -> dict:
    spec_path = b.write_spec(work, f"bench-{prefix}", prefix, n)
    b.timed(b.runnerkit_argv() + ["apply", str(spec_path), "--kubeconfig", kubeconfig, "-o", "json"])
    time.sleep(args.settle)
    rk = runnerkit_verify(spec_path, kubeconfig, work)
    print(f"  {n:4d} projects  runnerkit verify  {rk['seconds']:6.2f}s ({rk['cpu_seconds']:.2f}s CPU)  "
          f"{rk['requests']} requests  "
          f"{rk['peak_mb']:.0f} MB", file=sys.stderr)
    kc = kubectl_sweep(spec_path, prefix, kubeconfig, kubectl, work, args.kubectl_accounts)
    print(f"  {n:4d} projects  kubectl sweep     {kc['seconds']:6.2f}s  {kc['requests']} requests  "
          f"{kc['peak_mb']:.0f} MB ({kc['measured_accounts']} of {kc['accounts']} accounts run)", file=sys.stderr)
    return {"projects": n, "runnerkit": rk, "kubectl": kc}


def runnerkit_verify(spec_path: Path, kubeconfig: str, work: Path) -> dict:
    counts = work / "counts.json"
    seconds, out, _, peak = measured([sys.executable, str(b.COUNTED), str(counts), "verify", str(spec_path),
                                      "--kubeconfig", kubeconfig, "-o", "json"])
    by_method = json.loads(counts.read_text())
    report = json.loads(out)
    posts = by_method.get("POST", 0)
    if not report["ok"]:
        raise SystemExit("bench: runnerkit verify found drift on a freshly applied spec")
    if report["reviews"]["sent"] != posts:
        raise SystemExit(f"bench: verify reported {report['reviews']['sent']} reviews, the transport saw {posts} POSTs")
    return {"seconds": round(seconds, 3), "cpu_seconds": round(LAST_CPU, 3),
            "requests": sum(by_method.values()), "by_method": by_method,
            "reviews": report["reviews"], "accounts": len(report["accounts"]), "peak_mb": round(peak, 1)}


def sweep_commands(spec_path: Path) -> list[list[list[str]]]:
    """Per project account: can-i --list in its namespace, then one can-i per deny-probe."""
    from runnerkit.cli.files import read_spec
    from runnerkit.diagnose import verify
    from runnerkit.diagnose.verify_scope import build
    from runnerkit.model.rbac import RoleIndex

    s = read_spec(spec_path)
    scope = build([], [], [], [p.namespace for p in s.projects])  # no bindings elsewhere: the fixed sentinels
    out = []
    for plan in verify.plan(s, RoleIndex([], []), scope=scope):
        if not plan.full:
            continue  # the runner manager: a user's sweep covers the project accounts
        ns = plan.user.split(":")[2]
        commands = [["auth", "can-i", "--list", f"--as={plan.user}", "-n", ns]]
        for q in plan.questions:
            if q.kind != "probe":
                continue
            base, _, sub = q.access.resource.partition("/")
            cmd = ["auth", "can-i", q.access.verb, base + (f".{q.access.group}" if q.access.group else ""),
                   f"--as={plan.user}"] + (["--subresource", sub] if sub else [])
            commands.append(cmd + (["-n", q.namespace] if q.namespace else []))
        out.append(commands)
    return out


def kubectl_sweep(spec_path: Path, prefix: str, kubeconfig: str, kubectl: str, work: Path, limit: int) -> dict:
    accounts = sweep_commands(spec_path)
    chosen = accounts if not limit or limit >= len(accounts) else \
        [accounts[int(i * len(accounts) / limit)] for i in range(limit)]
    cache = work / f"kubectl-cache-{prefix}"
    seconds = 0.0
    requests = processes = 0
    peak = 0.0
    for commands in chosen:
        for cmd in commands:
            s, _, err, rss = measured([kubectl, "--kubeconfig", kubeconfig, "--cache-dir", str(cache), "-v=6", *cmd],
                                      ok_codes=(0, 1))  # can-i exits 1 for "no"
            seconds += s
            requests += len(b.KUBECTL_REQUEST.findall(err)) + len(KUBECTL_RESPONSE.findall(err))
            processes += 1
            peak = max(peak, rss)
    scale = len(accounts) / len(chosen)
    return {"seconds": round(seconds * scale, 2), "requests": round(requests * scale), "peak_mb": round(peak, 1),
            "processes": round(processes * scale), "accounts": len(accounts), "measured_accounts": len(chosen),
            "measured_seconds": round(seconds, 2), "measured_requests": requests}


def targets(results: list[dict]) -> list[dict]:
    largest = max(results, key=lambda r: r["projects"])
    rk = largest["runnerkit"]
    per_account = [r["runnerkit"]["requests"] / r["runnerkit"]["accounts"] for r in results]
    return [
        {"target": f"verify of {largest['projects']} projects under {TARGET_SECONDS:.0f} s",
         "met": rk["seconds"] < TARGET_SECONDS, "measured": f"{rk['seconds']:.2f}s"},
        {"target": f"verify of {largest['projects']} projects under {TARGET_MB:.0f} MB",
         "met": rk["peak_mb"] < TARGET_MB, "measured": f"{rk['peak_mb']:.0f} MB"},
        {"target": "requests per account do not grow with the number of projects",
         "met": per_account[-1] <= per_account[0] * 1.1 + 1,
         "measured": ", ".join(f"{r['projects']}: {x:.1f}" for r, x in zip(results, per_account))},
    ]


def render_table(results: list[dict]) -> str:
    rows = []
    for r in results:
        rk, kc = r["runnerkit"], r["kubectl"]
        note = "" if kc["measured_accounts"] == kc["accounts"] else \
            f"kubectl: {kc['measured_accounts']} of {kc['accounts']} accounts run, scaled"
        rows.append([r["projects"], rk["accounts"], rk["requests"], rk["reviews"]["questions"], rk["seconds"],
                     rk["cpu_seconds"], rk["peak_mb"], kc["requests"], kc["seconds"], kc["peak_mb"],
                     f"{b.ratio(kc['seconds'], rk['seconds']):.0f}x", note])
    return b.table(["projects", "accounts", "runnerkit requests", "questions", "runnerkit s", "runnerkit CPU s",
                    "runnerkit MB",
                    "kubectl requests", "kubectl s", "kubectl MB", "kubectl/runnerkit", "note"], rows)


def kubectl_version(kubectl: str) -> str:
    return json.loads(b.timed([kubectl, "version", "--client", "-o", "json"]).out)["clientVersion"]["gitVersion"]


if __name__ == "__main__":
    sys.exit(main())
