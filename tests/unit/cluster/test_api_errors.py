"""How API server errors become runnerkit errors: the server's own message, what to do, an exit code
CI can tell apart (3 for cluster errors), never the request body. The Status bodies are the ones
kube-apiserver sends (e2e tests meet the same errors for real)."""

from __future__ import annotations

import json

import pytest

from runnerkit.errors import ApiError, Conflict, Forbidden, Invalid, NotFound, Unauthorized
from runnerkit.cluster.client import api_error


def status(code: int, reason: str, message: str) -> bytes:
    return json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
                       "reason": reason, "code": code}).encode()


CONFLICT = ('Operation cannot be fulfilled on configmaps "gitlab-runner": the object has been modified; '
            "please apply your changes to the latest version and try again")
TERMINATING = ('serviceaccounts "web-ci" is forbidden: unable to create new content in namespace web '
               "because it is being terminated")
FORBIDDEN = ('roles.rbac.authorization.k8s.io is forbidden: User "system:serviceaccount:ci:deployer" '
             'cannot list resource "roles" in API group "rbac.authorization.k8s.io" at the cluster scope')


@pytest.mark.parametrize("code,reason,message,cls,expected", [
    (409, "Conflict", CONFLICT, Conflict, CONFLICT + " (409 Conflict); someone else changed it, run the "
     "command again to start from the current state"),
    (403, "Forbidden", FORBIDDEN, Forbidden, FORBIDDEN + " (403 Forbidden); the identity running runnerkit "
     "needs that permission, ask a cluster admin to grant it"),
    (403, "Forbidden", TERMINATING, Forbidden, TERMINATING + " (403 Forbidden); wait until the namespace is "
     "gone, then run the command again to recreate it"),
    (404, "NotFound", 'namespaces "nope" not found', NotFound, 'namespaces "nope" not found (404 Not Found)'),
    (422, "Invalid", 'Role.rbac.authorization.k8s.io "x" is invalid: rules[0].verbs: Required value', Invalid,
     'Role.rbac.authorization.k8s.io "x" is invalid: rules[0].verbs: Required value (422 Invalid)'),
])
def test_status_bodies_keep_the_server_message_and_say_what_to_do(code, reason, message, cls, expected):
    error = api_error(code, status(code, reason, message), "PATCH", "/api/v1/namespaces/web")
    assert type(error) is cls and str(error) == expected
    assert error.exit_code == 3


def test_401_names_the_request_and_the_fix_but_not_the_server_text():
    error = api_error(401, status(401, "Unauthorized", "Unauthorized"), "GET", "/api/v1/namespaces")
    assert type(error) is Unauthorized and error.exit_code == 3
    assert str(error) == ("the cluster rejected the credentials (401 Unauthorized) on GET /api/v1/namespaces; "
                          "log in again or check --kubeconfig/--context")


def test_a_body_that_is_not_json_is_shown_shortened():
    error = api_error(502, b"<html>" + b"x" * 1000 + b"</html>", "GET", "/api/v1/namespaces")
    assert type(error) is ApiError and error.exit_code == 3
    assert str(error).startswith("GET /api/v1/namespaces failed: <html>xxx") and str(error).endswith("(HTTP 502)")
    assert len(str(error)) < 300


class FakeResponse:
    """Enough of a requests.Response for the GitLab and GitHub error mappers."""

    def __init__(self, status: int, message: str):
        self.status_code, self.reason, self.headers = status, "", {}
        self.text = json.dumps({"message": message})
        self.content = self.text.encode()

    def json(self):
        return json.loads(self.text)


@pytest.mark.parametrize("code,cls", [(401, Unauthorized), (403, Forbidden), (404, NotFound), (409, Conflict),
                                      (422, Invalid), (500, ApiError)])
def test_kubernetes_gitlab_and_github_map_a_status_to_the_same_error_class(code, cls):
    from runnerkit.github.api import _error as github_error
    from runnerkit.gitlab.api import _message, gitlab_error

    errors = [api_error(code, status(code, "X", "no"), "GET", "/x"),
              gitlab_error(code, _message(FakeResponse(code, "no")), "GET", "/projects/1"),
              github_error(FakeResponse(code, "no"), "GET", "/repos/o/r")]
    assert [type(e) for e in errors] == [cls] * 3
    assert all(e.status == code and e.exit_code == 3 for e in errors)
