"""`runnerkit audit` on a cluster seeded with many RoleBindings and ServiceAccounts: wall time and
request count, before and after seeding (the request count must not grow with the bindings).

    python bench/audit.py --bindings 10000 --service-accounts 5000 --repetitions 3 --json audit.json

Seeding uses runnerkit's own concurrent client (POSTs, 16 in flight), into namespaces named with
a unique prefix; they are deleted at the end and the script waits until they are gone. Requests
are counted at urllib3's connection pool inside the audit process (see counted_runnerkit.py).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib as b  # noqa: E402

TARGET_SECONDS = 3.0
RBAC = "rbac.authorization.k8s.io/v1"
# Bindings point at built-in ClusterRoles, so the audit resolves real rules; every 50th binding
# grants something an auditor must flag, so the run produces findings as well as scanning.
ROLES = ("view", "edit", "view", "admin", "view")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bindings", type=int, default=10000, metavar="N")
    p.add_argument("--service-accounts", type=int, default=5000, metavar="N")
    p.add_argument("--namespaces", type=int, default=100, metavar="N", help="spread the objects over N namespaces")
    p.add_argument("--repetitions", type=int, default=3, metavar="R")
    p.add_argument("--kubeconfig", help="default: $RUNNERKIT_E2E_KUBECONFIG")
    p.add_argument("--no-wait", action="store_true", help="delete what was created but do not wait for it")
    p.add_argument("--json", metavar="FILE", help="write the results here")
    args = p.parse_args(argv)

    kubeconfig = b.find_kubeconfig(args.kubeconfig)
    admin = b.admin_client(kubeconfig)
    work = Path(tempfile.mkdtemp(prefix="runnerkit-bench-"))
    try:
        prefix = f"rka{b.run_id()}"
        before = measure("before seeding", kubeconfig, work, args.repetitions)
        try:
            seeded, seconds = seed(admin, prefix, args.namespaces, args.bindings, args.service_accounts)
            print(f"  seeded {seeded} objects in {seconds:.1f}s", file=sys.stderr)
            time.sleep(2)  # let controllers finish (token Secrets for the new ServiceAccounts)
            after = measure(f"{args.bindings} RoleBindings, {args.service_accounts} ServiceAccounts",
                            kubeconfig, work, args.repetitions, prefix)
        finally:
            waited = b.delete_namespaces(admin, prefix, wait=0 if args.no_wait else 900)
            print(f"  cleaned up {prefix}* ({waited:.0f}s)", file=sys.stderr)
        results = [before, after]
        constant = before["requests"] == after["requests"]
        print(b.table(["cluster", "RoleBindings", "ServiceAccounts", "median s", "requests", "findings"],
                      [[r["cluster"], r["audited"].get("RoleBindings"),
                        r["audited"].get("ServiceAccounts"),
                        r["median"], r["requests"], r["findings"]] for r in results]))
        checks = [
            {"target": "audit request count independent of the number of bindings", "met": constant,
             "measured": f"{before['requests']} requests before seeding, {after['requests']} after"},
            {"target": f"audit of the seeded cluster under {TARGET_SECONDS:.0f} s",
             "met": after["median"] < TARGET_SECONDS, "measured": f"{after['median']:.2f}s"},
        ]
        for line in checks:
            print(f"target: {line['target']}: {'met' if line['met'] else 'NOT met'} ({line['measured']})")
        b.write_json(args.json, {"benchmark": "audit", "machine": b.machine(), "repetitions": args.repetitions,
                                 "seeded": {"bindings": args.bindings, "serviceAccounts": args.service_accounts,
                                            "namespaces": args.namespaces, "prefix": prefix,
                                            "seconds": round(seconds, 2)},
                                 "results": results, "targets": checks})
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)  # no runnerkit-bench-* left in /tmp


def seed(client, prefix: str, namespaces: int, bindings: int, service_accounts: int) -> tuple[int, float]:
    start = time.perf_counter()
    names = [f"{prefix}-{i:03d}" for i in range(namespaces)]
    client.parallel(lambda ns: client.request("POST", "/api/v1/namespaces", body={
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}), names)
    accounts = [(names[i % namespaces], f"sa-{i:05d}") for i in range(service_accounts)]
    client.parallel(lambda a: client.request("POST", f"/api/v1/namespaces/{a[0]}/serviceaccounts", body={
        "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": a[1]}}), accounts)

    def binding(i: int) -> None:
        ns = names[i % namespaces]
        sa_ns, sa = accounts[(i * 7) % len(accounts)] if accounts else (ns, "default")  # cross-namespace too
        role = "cluster-admin" if i % 50 == 0 else ROLES[i % len(ROLES)]
        client.request("POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings", body={
            "apiVersion": RBAC, "kind": "RoleBinding", "metadata": {"name": f"rb-{i:05d}"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": sa_ns}]})
    client.parallel(binding, range(bindings))
    return namespaces + service_accounts + bindings, time.perf_counter() - start


def measure(label: str, kubeconfig: str, work: Path, repetitions: int, prefix: str | None = None) -> dict:
    runs = []
    for _ in range(repetitions):
        run = b.runnerkit_counted("audit", "--kubeconfig", kubeconfig, "-o", "json", "--fail-on", "none",
                                  workdir=work)
        run.extra["report"] = json.loads(run.out)
        runs.append(run)
    requests = {r.requests for r in runs}
    if len(requests) != 1:
        raise SystemExit(f"bench: audit sent a different number of requests each run: {sorted(requests)}")
    report = runs[-1].extra["report"]
    result = {"cluster": label, "seconds": [round(r.seconds, 3) for r in runs],
              "median": round(b.median([r.seconds for r in runs]), 3), "requests": runs[-1].requests,
              "by_method": runs[-1].extra["by_method"], "findings": len(report["findings"]),
              "audited": report["audited"]}
    if prefix:  # findings about what this run seeded (the cluster may hold others)
        result["seeded_findings"] = sum(f" -n {prefix}-" in json.dumps(f) for f in report["findings"])
    print(f"  audit, {label}: {result['median']:.2f}s, {result['requests']} requests, "
          f"{result['findings']} findings", file=sys.stderr)
    return result


if __name__ == "__main__":
    sys.exit(main())
