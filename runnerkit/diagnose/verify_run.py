"""`runnerkit verify` against a cluster in three steps. List: ClusterRoles, ClusterRoleBindings,
RoleBindings and Roles, one call each. Find: the namespaces where a binding names each account or its
groups (verify_scope). Probe: ask the plan's questions, one review per class RBAC cannot tell apart
(verify_ask). Request count: 4 lists + O(accounts x declared grants), never accounts x namespaces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, TextIO

from ..cluster.protocol import Client
from ..errors import Forbidden
from ..model.kinds import BY_KIND
from ..model.rbac import RoleIndex
from ..model.spec import Spec
from . import verify
from .verify_ask import Asked, ask
from .verify_scope import Scope, build

NEEDS = "list on clusterroles, and create on subjectaccessreviews"
OPTIONAL = ("ClusterRoleBinding", "RoleBinding", "Role")


@dataclass
class Verified:
    outcomes: list[verify.VerifyOutcome]
    scope: Scope
    asked: Asked


def run(client: Client, spec: Spec, projects: list[str] | None = None, *, shared: bool = True,
        progress: Callable[[int, int], None] | None = None) -> Verified:
    def listed(kind: str) -> list[dict] | Forbidden:
        try:
            return client.list_objects(BY_KIND[kind])
        except Forbidden as e:  # verify still works without it, with a weaker scope it reports
            return e

    cluster_roles, *optional = client.parallel(listed, ("ClusterRole",) + OPTIONAL)
    if isinstance(cluster_roles, Forbidden):
        raise Forbidden(f"{cluster_roles}; verify needs {NEEDS}", 403)
    crbs, rbs, roles = (None if isinstance(x, Forbidden) else x for x in optional)
    forbidden = [f"{kind}s" for kind, x in zip(OPTIONAL, optional) if isinstance(x, Forbidden)]
    scope = build(crbs, rbs, roles, [p.namespace for p in spec.projects],
                  f"listing {' and '.join(forbidden)} is forbidden" if forbidden else "")
    scope.shared = shared
    plans = verify.plan(spec, RoleIndex(cluster_roles, []), projects, scope)
    asked = ask(client, plans, scope, progress)
    extra = verify.undeclared_bindings(spec, plans, crbs + rbs) if crbs is not None and rbs is not None else {}
    return Verified([verify.VerifyOutcome(p, asked.answers, extra.get(p.user, [])) for p in plans], scope, asked)


def progress_line(stream: TextIO) -> Callable[[int, int], None] | None:
    """`347/500 accounts proven` on one rewritten line, only when a person watches the terminal."""
    if not stream.isatty():
        return None

    def show(done: int, total: int) -> None:
        stream.write(f"\r{done}/{total} accounts proven" + ("\r\033[K" if done == total else ""))
        stream.flush()

    return show
