"""The few error types runnerkit raises; the CLI prints them once and maps them to exit codes."""

from __future__ import annotations


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
        super().__init__("\n".join(capped(problems)))


MAX_ERRORS_SHOWN = 50


def capped(lines: list[str], limit: int = MAX_ERRORS_SHOWN) -> list[str]:
    """At most `limit` lines, then one that says how many more there were."""
    if len(lines) <= limit:
        return lines
    return lines[:limit] + [f"… and {len(lines) - limit} more"]


class WorkloadNotFound(InputError):
    """No runner workload (Deployment, scale set, RunnerDeployment) by that name: exit 2."""


class IsolationUnavailable(RunnerkitError):
    """--require-isolation on a cluster without ValidatingAdmissionPolicy: exit 1, nothing changed."""


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


# The one HTTP-status-to-error mapping, for the Kubernetes API, GitLab and GitHub alike: each API's
# edge writes the message (what failed and how to fix it), this picks the class callers catch.
STATUS_ERRORS: dict[int, type[ApiError]] = {
    401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict, 422: Invalid,
}


def http_error(status: int, message: str, reason: str = "") -> ApiError:
    """The error for an HTTP error status answered by an API, with its message."""
    return STATUS_ERRORS.get(status, ApiError)(message, status, reason)

