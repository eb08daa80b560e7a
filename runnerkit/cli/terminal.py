"""What reaches the terminal: ✔/✘ and colour only on a TTY (colour unless NO_COLOR), plain ASCII
marks in pipes and files, and an ASCII fallback for any character the stream's encoding cannot
print (a Latin-1 locale must not crash a report). Renderers write the Unicode marks; this is the
one place that adapts them to where they go."""

from __future__ import annotations

import io
import os
from typing import Mapping, TextIO

MARKS = {"✔": "+", "✘": "x"}
COLOURS = {"✔": "32", "✘": "31"}  # green, red
FALLBACK = {"·": ".", "—": "-", "–": "-", "→": "->", "←": "<-", "…": "...", "≥": ">=", "≤": "<=",
            "×": "x", "⚠": "!", "“": '"', "”": '"', "‘": "'", "’": "'"}


def can_encode(stream: TextIO, text: str) -> bool:
    encoding = getattr(stream, "encoding", None)
    if not encoding:  # an in-memory stream holds any text
        return True
    try:
        text.encode(encoding)
        return True
    except (UnicodeEncodeError, LookupError):
        return False


class Styled(io.TextIOBase):
    def __init__(self, stream: TextIO, environ: Mapping[str, str] | None = None):
        self.stream = stream
        env: Mapping[str, str] = os.environ if environ is None else environ
        tty = _isatty(stream)
        self.symbols = tty and can_encode(stream, "".join(MARKS))
        self.colour = self.symbols and not env.get("NO_COLOR") and env.get("TERM") != "dumb"

    def adapt(self, text: str) -> str:
        if not self.symbols:
            for mark, ascii_mark in MARKS.items():
                text = text.replace(mark, ascii_mark)
        elif self.colour:
            for mark, code in COLOURS.items():
                text = text.replace(mark, f"\033[{code}m{mark}\033[0m")
        if not can_encode(self.stream, text):
            text = "".join(c if can_encode(self.stream, c) else FALLBACK.get(c, "?") for c in text)
        return text

    def write(self, text: str) -> int:
        self.stream.write(self.adapt(text))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return _isatty(self.stream)

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str | None:  # type: ignore[override]
        return getattr(self.stream, "encoding", None)

    def writable(self) -> bool:
        return True


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
