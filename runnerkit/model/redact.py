"""Mask secrets in everything runnerkit prints: the last line of defence behind "never print a token".

Known secrets (every token read from a file or a kubeconfig, every GitLab/GitHub token taken from
the environment) are registered and replaced wherever they appear; patterns catch the rest: JWTs,
`Bearer ...`, `PRIVATE-TOKEN`/`Authorization` values and GitLab/GitHub token formats. The CLI wraps
stdout and stderr in a RedactingStream, so errors, --debug tracebacks and -o json all pass through.
The one exception is output the user asked for by name (`token -o raw|json`): it goes to `raw`.
"""

from __future__ import annotations

import io
import re
import threading
from typing import TextIO

MASK = "***"
_MIN_SECRET = 8  # shorter strings would mask ordinary words
_secrets: set[str] = set()
_lock = threading.Lock()

_PATTERNS = (
    # a JWT: three base64url parts, the first one a JSON object ({"... -> eyJ)
    re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),
    re.compile(r"(?i)(\bbearer\s+)(?!\*\*\*)[^\s'\",}\\]{8,}"),
    re.compile(r"(?i)((?:private-token|authorization|x-api-key)['\"]?\s*[:=]\s*['\"]?)(?!bearer\s)(?!\*\*\*)"
               r"[^\s'\",}\\]{8,}"),
    re.compile(r"\b(?:glpat|gloas|glrt|glptt|gldt|glcbt)-[A-Za-z0-9_.-]{8,}"),
    re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{16,})"),
)


def register(secret: str | bytes | None) -> None:
    """Remember a secret value so that it is masked wherever it is printed."""
    if isinstance(secret, bytes):
        secret = secret.decode("utf-8", "replace")
    if not secret:
        return
    for value in {secret, secret.strip()}:
        if len(value) >= _MIN_SECRET:
            with _lock:
                _secrets.add(value)


def redact(text: str) -> str:
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + MASK, text)
    return text


class RedactingStream(io.TextIOBase):
    """A text stream that redacts whole lines before passing them on: a secret split over several
    write() calls (json.dump writes in pieces) is still seen in one piece."""

    def __init__(self, inner: TextIO):
        self.inner = inner
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending += text
        if "\n" in self._pending:
            complete, _, self._pending = self._pending.rpartition("\n")
            self.inner.write(redact(complete + "\n"))
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self.inner.write(redact(self._pending))
            self._pending = ""
        self.inner.flush()

    def isatty(self) -> bool:
        return self.inner.isatty()

    def fileno(self) -> int:
        return self.inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.inner, "encoding", "utf-8")


def raw(stream: TextIO) -> TextIO:
    """The unredacted stream under `stream`: only for a secret the user explicitly asked to print."""
    return stream.inner if isinstance(stream, RedactingStream) else stream
