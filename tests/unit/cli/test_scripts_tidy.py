"""The test scripts leave nothing behind in /tmp (the e2e-cluster lock lives in the cache)."""

from __future__ import annotations

import os
import subprocess

from conftest import ROOT

SCRIPTS = ROOT / "scripts"


def test_e2e_cluster_leaves_no_lock_file_beside_its_state_dir(tmp_path):
    state, cache = tmp_path / "state", tmp_path / "cache"
    proc = subprocess.run([str(SCRIPTS / "e2e-cluster"), "down"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "RUNNERKIT_E2E_DIR": str(state), "RUNNERKIT_CACHE": str(cache)})
    assert proc.returncode == 0, proc.stderr
    assert "not running" in proc.stderr + proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]  # no state.lock in the temp dir
    assert [p.suffix for p in (cache / "locks").iterdir()] == [".lock"]
