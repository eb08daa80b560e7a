"""Does the GitLab runner manager's ServiceAccount exist? apply binds a Role to it either way (the
runner may be installed later), but a typo in the runner's release or namespace would otherwise
fail silently: jobs would be refused with `forbidden` and every check would say ok."""

from __future__ import annotations

from ..cluster.protocol import Client
from ..errors import ApiError
from ..model.kinds import BY_KIND
from ..model.spec import Spec
from .manager_rbac import GITLAB_MANAGER_ROLE


def manager_accounts(objects: list[dict]) -> list[tuple[str, str]]:
    """(namespace, name) of every ServiceAccount the rendered manager RoleBindings name."""
    found = {(s["namespace"], s["name"]) for o in objects
             if o["kind"] == "RoleBinding" and o["metadata"]["name"] == GITLAB_MANAGER_ROLE
             for s in o["subjects"] if s.get("kind") == "ServiceAccount"}
    return sorted(found)


def missing_manager_accounts(client: Client, spec: Spec, objects: list[dict]) -> list[str]:
    """One warning line per manager ServiceAccount that does not exist (one GET each)."""
    accounts = manager_accounts(objects)
    present = client.parallel(lambda a: _exists(client, *a), accounts)
    runners = {(r.namespace, r.service_account): r for r in spec.runners.values() if r.type == "gitlab"}
    out = []
    for (namespace, name), there in zip(accounts, present):
        if there:
            continue
        runner = runners.get((namespace, name))
        where = (f"runner {runner.name!r} (release {runner.release!r}, namespace {namespace!r})"
                 if runner else f"namespace {namespace!r}")
        out.append(f"ServiceAccount {namespace}/{name} does not exist: the GitLab runner manager that "
                   f"should create job pods is not there yet; check {where} in {spec.path}, or install "
                   "the runner (the Role is bound anyway)")
    return out


def _exists(client: Client, namespace: str, name: str) -> bool:
    try:
        return client.get(BY_KIND["ServiceAccount"], name, namespace) is not None
    except ApiError:  # not allowed to read ServiceAccounts there: no evidence either way, no warning
        return True
