"""One retry policy for the Kubernetes, GitLab and GitHub APIs (documented in docs/safety.md).

Retried: 429, 500, 502, 503, 504, a reset or refused connection, a timeout. Never any other 4xx:
the same request would get the same answer. Waits grow exponentially (0.2 s, 0.4 s, ... capped at
5 s) with full jitter, a Retry-After header is honoured (capped at the same 5 s), and no wait goes
past the total deadline (--timeout, default 60 s): then the last error is raised as one line.
"""

from __future__ import annotations

import os
import random
import socket
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
BASE_DELAY = 0.2
MAX_DELAY = 5.0
MAX_ATTEMPTS = 8
DEFAULT_TIMEOUT = 60.0
TIMEOUT_ENV = "RUNNERKIT_TIMEOUT"
_deadline: float | None = None  # --timeout of this run


def set_deadline(seconds: float | None) -> None:
    global _deadline
    _deadline = seconds


def default_deadline() -> float:
    if _deadline is not None:
        return _deadline
    try:
        return float(os.environ.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT)
    except ValueError:
        return DEFAULT_TIMEOUT


@dataclass
class Policy:
    """Decides whether and how long to wait before the next attempt of one request."""

    deadline: float = field(default_factory=default_deadline)  # seconds for all attempts together
    base: float = BASE_DELAY
    cap: float = MAX_DELAY
    attempts: int = MAX_ATTEMPTS
    clock: object = time.monotonic
    sleep: object = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    def start(self) -> "Attempts":
        return Attempts(self, self.clock() + self.deadline)  # type: ignore[operator]


@dataclass
class Attempts:
    policy: Policy
    ends: float
    done: int = 0

    def remaining(self) -> float:
        return max(0.0, self.ends - self.policy.clock())  # type: ignore[operator]

    def wait(self, retry_after: str | None = None) -> bool:
        """After a retryable failure: sleep and return True, or False when it is time to give up."""
        self.done += 1
        if self.done >= self.policy.attempts:
            return False
        delay = self.policy.rng.uniform(0, min(self.policy.cap, self.policy.base * 2 ** (self.done - 1)))
        hinted = parse_retry_after(retry_after)
        if hinted is not None:
            delay = min(self.policy.cap, hinted)
        if delay >= self.remaining():
            return False
        self.policy.sleep(delay)  # type: ignore[operator]
        return True


def transient(error: BaseException) -> bool:
    """A reset, a dropped connection or a timeout is worth another try; a refused connection or an
    unknown host is not (nothing listens there: waiting only delays the error)."""
    seen: set[int] = set()
    stack: list[object] = [error]
    while stack:
        e = stack.pop()
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, (ConnectionRefusedError, socket.gaierror)):
            return False
        text = type(e).__name__
        if text in ("NewConnectionError", "NameResolutionError", "SSLError", "CertificateError"):
            return False
        stack += [getattr(e, "reason", None), e.__cause__, e.__context__, *e.args]
    return True


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())
