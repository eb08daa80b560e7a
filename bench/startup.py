"""runnerkit start-up without a cluster: `runnerkit --help`, and `runnerkit render` of N generated
projects (6 objects each), each a fresh process, R times; medians against the targets.

    python bench/startup.py --projects 1000 --repetitions 10 --json startup.json
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib as b  # noqa: E402

HELP_TARGET, RENDER_TARGET = 0.3, 1.5


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--projects", type=int, default=1000, metavar="N")
    p.add_argument("--repetitions", type=int, default=10, metavar="R")
    p.add_argument("--json", metavar="FILE", help="write the results here")
    args = p.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="runnerkit-bench-"))
    try:
        spec = b.write_spec(work, "bench-render", "render", args.projects)
        env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "RUNNERKIT_E2E_KUBECONFIG")}
        env["KUBECONFIG"] = str(work / "no-such-kubeconfig")  # proves nothing reaches for a cluster
        rk = b.runnerkit_argv()
        commands = [
            ("python -c pass (interpreter alone)", [sys.executable, "-c", "pass"], None, None),
            ("runnerkit --help", [*rk, "--help"], HELP_TARGET, None),
            (f"runnerkit render ({args.projects} projects)", [*rk, "render", str(spec)], RENDER_TARGET,
             6 * args.projects),
        ]
        results = []
        for name, argv_, target, objects in commands:
            runs = [b.timed(argv_, env=env) for _ in range(args.repetitions)]
            if objects is not None:
                rendered = sum(1 for line in runs[0].out.splitlines() if line.startswith("kind: "))
                if rendered != objects:
                    raise SystemExit(f"bench: {name} printed {rendered} objects, expected {objects}")
            seconds = [r.seconds for r in runs]
            median = b.median(seconds)
            results.append({"command": name, "argv": argv_[len(rk):] if argv_[:len(rk)] == rk else argv_,
                            "seconds": [round(s, 4) for s in seconds], "median": round(median, 4),
                            "min": round(min(seconds), 4), "target": target,
                            "met": None if target is None else median < target})
            print(f"  {name}: median {median:.3f}s", file=sys.stderr)
        print(b.table(["command", "median s", "min s", "target s", "met"],
                      [[r["command"], r["median"], r["min"], r["target"],
                        None if r["met"] is None else ("yes" if r["met"] else "NO")] for r in results]))
        b.write_json(args.json, {"benchmark": "startup", "machine": b.machine(), "repetitions": args.repetitions,
                                 "runnerkit": " ".join(rk), "results": results})
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)  # no runnerkit-bench-* left in /tmp


if __name__ == "__main__":
    sys.exit(main())
