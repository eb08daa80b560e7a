"""An in-memory Kubernetes API behind the Client protocol (runnerkit/cluster/protocol.py), for fast
unit tests of what apply, diff, delete and the GitLab ConfigMap edit send. It keeps objects as the
plain dicts runnerkit sends, honours label selectors (k=v, k!=v), resourceVersion preconditions and
dry runs, and records every request. It is not a server: no defaults, no admission, no RBAC; the
e2e tests cover those on a real one."""

from __future__ import annotations

import copy
from typing import Any, Callable, Iterable, TypeVar

from runnerkit.errors import ApiError, Conflict, Forbidden, NotFound
from runnerkit.model.kinds import BY_KIND, Kind

T = TypeVar("T")
R = TypeVar("R")
Key = tuple[str, str, str]  # (kind, namespace or "", name)


def key_of(obj: dict) -> Key:
    meta = obj["metadata"]
    return obj["kind"], meta.get("namespace", ""), meta["name"]


def merge(into: dict, patch: dict) -> dict:
    """A JSON merge patch (RFC 7386); server-side apply of runnerkit's objects merges the same way
    for what these tests look at."""
    out = copy.deepcopy(into)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def selects(selector: str | None, labels: dict) -> bool:
    for term in filter(None, (selector or "").split(",")):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k) == v:
                return False
        else:
            k, v = term.split("=", 1)
            if labels.get(k) != v:
                return False
    return True


class FakeClient:
    host = "https://fake.invalid"

    def __init__(self, objects: Iterable[dict] = (), *, unserved: Iterable[str] = (),
                 refuse: Callable[[dict], ApiError | None] | None = None,
                 served: dict[str, set[str]] | None = None):
        self.objects: dict[Key, dict] = {}
        self.served = served or {}  # extra group versions (CRDs) -> their resource plurals
        self.unserved = set(unserved)  # kinds the "server" does not serve: listing them is a 404
        self.refuse = refuse  # refuse(obj) -> an error to raise instead of writing obj, or None
        self.requests: list[tuple[str, str]] = []
        self.writes: list[tuple[str, str]] = []  # (verb, "Kind ns/name") of every real (non-dry-run) write
        self.version = 0
        for obj in objects:
            self.store(obj)

    # -- state ------------------------------------------------------------------------------------

    def store(self, obj: dict) -> dict:
        self.version += 1
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(self.version)
        self.objects[key_of(obj)] = obj
        return copy.deepcopy(obj)

    def stored(self, kind: str, name: str, namespace: str = "") -> dict | None:
        return copy.deepcopy(self.objects.get((kind, namespace, name)))

    def _record(self, method: str, kind: Kind, name: str, namespace: str | None) -> None:
        self.requests.append((method, kind.object_path(name, namespace)))

    def _write(self, verb: str, obj: dict, dry_run: bool) -> None:
        if self.refuse and (error := self.refuse(obj)):
            raise error
        if not dry_run:
            meta = obj["metadata"]
            self.writes.append((verb, f"{obj['kind']} {meta.get('namespace', '')}/{meta['name']}"))

    # -- the Client protocol ----------------------------------------------------------------------

    def impersonating(self, user: str) -> FakeClient:
        return self

    def request(self, method: str, path: str, *, query: dict | None = None, body: Any = None,
                content_type: str = "application/json") -> Any:
        self.requests.append((method, path))
        raise NotFound(f"{method} {path}: the fake serves only the typed methods (404 Not Found)", 404)

    def parallel(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        return [fn(i) for i in items]  # in order: the tests can assert on the sequence of writes

    def list_objects(self, kind: Kind, label_selector: str | None = None,
                     namespace: str | None = None) -> list[dict]:
        self.requests.append(("GET", kind.collection_path(namespace)))
        if kind.kind in self.unserved:
            raise NotFound(f"the server could not find the requested resource (404 Not Found)", 404)
        return [copy.deepcopy(o) for (k, ns, _), o in sorted(self.objects.items())
                if k == kind.kind and (namespace is None or ns == namespace)
                and selects(label_selector, o["metadata"].get("labels") or {})]

    def get(self, kind: Kind, name: str, namespace: str | None = None) -> dict | None:
        self._record("GET", kind, name, namespace)
        return self.stored(kind.kind, name, namespace or "")

    def apply(self, obj: dict, *, dry_run: bool = False, force: bool = True) -> dict:
        kind, meta = BY_KIND[obj["kind"]], obj["metadata"]
        self._record("PATCH", kind, meta["name"], meta.get("namespace"))
        self._write("apply", obj, dry_run)
        merged = merge(self.objects.get(key_of(obj), {}), obj)
        return merged if dry_run else self.store(merged)

    def delete(self, obj: dict, *, dry_run: bool = False) -> None:
        kind, meta = BY_KIND[obj["kind"]], obj["metadata"]
        self._record("DELETE", kind, meta["name"], meta.get("namespace"))
        self._write("delete", obj, dry_run)
        if not dry_run:
            self.objects.pop(key_of(obj), None)

    def replace(self, kind: Kind, obj: dict, *, dry_run: bool = False) -> dict:
        meta = obj["metadata"]
        self._record("PUT", kind, meta["name"], meta.get("namespace"))
        current = self.objects.get(key_of(obj))
        if current is None:
            raise NotFound(f"{kind.plural} {meta['name']!r} not found (404 Not Found)", 404)
        if meta.get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise Conflict("the object has been modified (409 Conflict)", 409)
        self._write("replace", obj, dry_run)
        return copy.deepcopy(obj) if dry_run else self.store(obj)

    def review(self, user: str, verb: str, resource: str, namespace: str | None = None, group: str = "",
               name: str | None = None, groups: list[str] | None = None) -> tuple[bool, str]:
        raise Forbidden("the fake has no authorizer (403 Forbidden)", 403)

    def can(self, user: str, verb: str, resource: str, namespace: str | None = None, group: str = "",
            name: str | None = None, groups: list[str] | None = None) -> bool:
        return self.review(user, verb, resource, namespace, group, name, groups)[0]

    def self_can(self, verb: str, resource: str, namespace: str | None = None, group: str = "",
                 name: str | None = None) -> bool:
        raise Forbidden("the fake has no authorizer (403 Forbidden)", 403)

    def self_rules(self, namespace: str) -> dict:
        raise Forbidden("the fake has no authorizer (403 Forbidden)", 403)

    def patch(self, kind: Kind, name: str, namespace: str | None, patch: Any, *, dry_run: bool = False,
              patch_type: str = "merge") -> dict:
        self._record("PATCH", kind, name, namespace)
        current = self.objects.get((kind.kind, namespace or "", name))
        if current is None:
            raise NotFound(f"{kind.plural} {name!r} not found (404 Not Found)", 404)
        assert patch_type == "merge", "the fake only merge-patches"
        merged = merge(current, patch)
        self._write("patch", merged, dry_run)
        return merged if dry_run else self.store(merged)

    def served_resources(self, api_version: str) -> set[str] | None:
        if api_version in self.served:
            return set(self.served[api_version])
        plurals = {k.plural for k in BY_KIND.values() if k.api_version == api_version and k.kind not in self.unserved}
        return plurals or ({"deployments"} if api_version == "apps/v1" else None)

    def token_request(self, namespace: str, service_account: str, expiration_seconds: int,
                      audiences: list[str] | None = None, bound_object: dict | None = None) -> dict:
        raise Forbidden("the fake mints no tokens (403 Forbidden)", 403)

    def ca_pem(self) -> bytes | None:
        return None
