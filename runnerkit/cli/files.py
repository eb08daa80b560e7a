"""The user's input files, read at the edge: the model only ever sees their text."""

from __future__ import annotations

from pathlib import Path

from ..cluster.files import read_input as read_input, read_token as read_token  # bounded readers, re-exported
from ..errors import InputError
from ..model.spec import Spec
from ..model.validate import loads


def writable_file(path: Path, what: str, must_exist: bool = False) -> Path:
    """Refuse, before anything is written or minted, a target that is a directory (or missing)."""
    if path.is_dir():
        raise InputError(f"{what} {path}: is a directory; name a file (e.g. {path / 'kubeconfig'})")
    if must_exist and not path.exists():
        raise InputError(f"{what} {path}: no such file")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise InputError(f"{what} {path}: {parent} is not a directory")
    return path


def read_spec(path: str | Path) -> Spec:
    """Load and validate a runnerkit.yaml file."""
    path = Path(path)
    return loads(read_input(path, "; create one with `runnerkit init`"), str(path))
