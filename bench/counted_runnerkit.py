"""Run `runnerkit ARGS...` in this process and write how many HTTP requests it sent, per method.

    python bench/counted_runnerkit.py COUNTS.json apply spec.yaml --kubeconfig FILE

The count is taken at urllib3's connection pool, below runnerkit and the kubernetes client, so it
does not rely on runnerkit's own bookkeeping (its `requests` figure is checked against it). Every
attempt counts, retries included; a server-side dry run (`dryRun=All`, e.g. the check apply makes
before its first write) counts as a request but not as a write.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    out, argv = Path(sys.argv[1]), sys.argv[2:]
    counts: dict[str, int] = {}
    lock = threading.Lock()

    import urllib3.connectionpool

    original = urllib3.connectionpool.HTTPConnectionPool.urlopen

    def counting_urlopen(self, method, url, *args, **kwargs):
        name = f"{method} (dry run)" if "dryRun=All" in url else method
        with lock:
            counts[name] = counts.get(name, 0) + 1
        return original(self, method, url, *args, **kwargs)

    urllib3.connectionpool.HTTPConnectionPool.urlopen = counting_urlopen
    from runnerkit import cli

    try:
        code = cli.main(argv)
    finally:
        out.write_text(json.dumps(counts))
    return code


if __name__ == "__main__":
    sys.exit(main())
