"""The typed seam between runnerkit and a Kubernetes API server.

cluster/client.py's KubeClient implements it over the official client's connection pool; tests use
an in-memory fake (tests/fakes.py). Everything above cluster/ takes a `Client`, never a KubeClient.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Protocol, TypeVar

from ..model.kinds import Kind

T = TypeVar("T")
R = TypeVar("R")


class Client(Protocol):
    host: str
    requests: list[tuple[str, str]]  # (method, path) of every request sent

    def impersonating(self, user: str) -> Client: ...

    def request(self, method: str, path: str, *, query: dict | None = None, body: Any = None,
                content_type: str = "application/json") -> Any: ...

    def parallel(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]: ...

    def list_objects(self, kind: Kind, label_selector: str | None = None,
                     namespace: str | None = None) -> list[dict]: ...

    def get(self, kind: Kind, name: str, namespace: str | None = None) -> dict | None: ...

    def apply(self, obj: dict, *, dry_run: bool = False, force: bool = True) -> dict: ...

    def delete(self, obj: dict, *, dry_run: bool = False) -> None: ...

    def replace(self, kind: Kind, obj: dict, *, dry_run: bool = False) -> dict: ...

    def review(self, user: str, verb: str, resource: str, namespace: str | None = None, group: str = "",
               name: str | None = None, groups: list[str] | None = None) -> tuple[bool, str]: ...

    def can(self, user: str, verb: str, resource: str, namespace: str | None = None, group: str = "",
            name: str | None = None, groups: list[str] | None = None) -> bool: ...

    def self_can(self, verb: str, resource: str, namespace: str | None = None, group: str = "",
                 name: str | None = None) -> bool: ...

    def self_rules(self, namespace: str) -> dict: ...

    def patch(self, kind: Kind, name: str, namespace: str | None, patch: Any, *, dry_run: bool = False,
              patch_type: str = "merge") -> dict: ...

    def served_resources(self, api_version: str) -> set[str] | None: ...

    def token_request(self, namespace: str, service_account: str, expiration_seconds: int,
                      audiences: list[str] | None = None, bound_object: dict | None = None) -> dict: ...

    def ca_pem(self) -> bytes | None: ...
