"""The few error types runnerkit raises; the CLI prints them once and maps them to exit codes."""

from __future__ import annotations

from pathlib import Path


class RunnerkitError(Exception):
    """A user-facing error: its message says what is wrong and how to fix it."""

    exit_code = 1


class InputError(RunnerkitError):
    """Bad input (spec file, flags, files on disk): exit code 2, nothing was changed."""

    exit_code = 2


class SpecError(InputError):
    """One or more problems in a spec file, each already formatted as `file:line: message`."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class ApiError(RunnerkitError):
    """The Kubernetes API (or a SaaS API) refused or could not be reached: exit code 3."""

    exit_code = 3

    def __init__(self, message: str, status: int = 0, reason: str = ""):
        self.status = status
        self.reason = reason
        super().__init__(message)


class Unreachable(ApiError):
    pass


class Unauthorized(ApiError):
    pass


class Forbidden(ApiError):
    pass


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class Invalid(ApiError):
    pass


def read_input(path: Path, missing_hint: str = "") -> str:
    """A user's input file as text; a missing or unreadable one is bad input (exit 2)."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file{missing_hint}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read: {e}") from None
