"""Reading the user's files (inputs, bearer tokens) with clear, bounded failures (exit 2, nothing
changed). In cluster/ because the client reads token files too; the CLI reads its inputs through it."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError
from ..model import redact
from ..model.limits import MAX_INPUT_BYTES, MAX_TOKEN_BYTES, human_bytes


def read_input(path: Path, missing_hint: str = "", limit: int = MAX_INPUT_BYTES) -> str:
    """A user's input file as UTF-8 text, at most `limit` bytes; anything else is bad input."""
    data = _read_bytes(path, limit, missing_hint)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text (byte {e.start}); save it as UTF-8") from None


def read_token(path: Path, what: str = "token file") -> str:
    """A bearer token file trimmed of surrounding whitespace, as client-go reads it, and registered
    with the redactor so it is never printed."""
    data = _read_bytes(path, MAX_TOKEN_BYTES, "")
    redact.register(data)
    try:
        token = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise InputError(f"{what} {path}: not a token (not UTF-8 text); point it at the bearer token "
                         "file") from None
    if not token:
        raise InputError(f"{what} {path} is empty: no token to authenticate with")
    if any(c.isspace() or not c.isprintable() for c in token):
        raise InputError(f"{what} {path}: holds more than one line or control characters; a token "
                         "file holds the bare token only")
    return token


def _read_bytes(path: Path, limit: int, missing_hint: str) -> bytes:
    try:
        if path.is_dir():
            raise InputError(f"{path}: is a directory, not a file")
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > limit:
                raise InputError(f"{path}: {human_bytes(size)} is larger than the {human_bytes(limit)} "
                                 "runnerkit reads; is it the right file?")
            data = f.read(limit + 1)  # a pipe or /dev/zero reports no size
    except FileNotFoundError:
        raise InputError(f"{path}: no such file{missing_hint}") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror or type(e).__name__}") from None
    if len(data) > limit:
        raise InputError(f"{path}: larger than the {human_bytes(limit)} runnerkit reads; is it the right file?")
    return data
