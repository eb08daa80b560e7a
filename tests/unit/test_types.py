"""The type hints are checked: mypy in strict mode (pyproject.toml [tool.mypy] says which two parts stay
off and why) passes on runnerkit/."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_mypy_passes_on_the_package():
    run = subprocess.run([sys.executable, "-m", "mypy", "runnerkit"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
