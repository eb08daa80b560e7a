"""The user's input files, read at the edge: the model only ever sees their text."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from ..model.spec import Spec
from ..model.validate import loads


def read_input(path: Path, missing_hint: str = "") -> str:
    """A user's input file as text; a missing or unreadable one is bad input (exit 2)."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file{missing_hint}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read: {e}") from None


def read_spec(path: str | Path) -> Spec:
    """Load and validate a runnerkit.yaml file."""
    path = Path(path)
    return loads(read_input(path, "; create one with `runnerkit init`"), str(path))
