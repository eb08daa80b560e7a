"""How `runnerkit verify` shows its outcome: per account, grants, an access matrix like rakkess's,
and every drift with the authorizer's reason. Pure."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..model.rbac import MATRIX_VERBS, Access
from .verify import VerifyOutcome, Question
from .verify_scope import FIXED_NAMESPACES, SENTINEL_NAMESPACE

if TYPE_CHECKING:
    from .verify_run import Verified

LEGEND = "✔ allowed as declared  · denied as expected  ✘ declared but denied  ! allowed but not declared"


def cell(expected: bool, allowed: bool) -> str:
    if allowed:
        return "✔" if expected else "!"
    return "✘" if expected else "·"


def compact(questions: list[Question]) -> list[str]:
    """`NAMESPACE: get/list/watch pods, services; create jobs.batch`, one line per namespace."""
    by_ns: dict[str, dict[str, list[str]]] = {}
    for q in questions:
        a = q.access
        name = _label(a.resource, a.group) + (f" {a.name}" if a.name else "")
        by_ns.setdefault(q.namespace or "cluster-wide", {}).setdefault(name, []).append(a.verb)
    out = []
    for ns, resources in by_ns.items():
        by_verbs: dict[str, list[str]] = {}
        for resource, verbs in resources.items():
            by_verbs.setdefault("/".join(verbs), []).append(resource)
        out.append(f"{ns}: " + "; ".join(f"{verbs} {', '.join(res)}" for verbs, res in by_verbs.items()))
    return out


def drift_lines(outcome: VerifyOutcome) -> list[str]:
    """Drifts grouped by what causes them (the authorizer names the binding that allows a request)."""
    groups: dict[tuple[bool, str], list[Question]] = {}
    for q in outcome.drift():
        reason = "" if q.expected else outcome.answers[q.key][1]
        groups.setdefault((q.expected, reason), []).append(q)
    out = []
    for (expected, reason), qs in groups.items():
        if expected:
            out.append("✘ declared but denied:")
        else:
            out.append("✘ allowed but not declared" + (f" ({reason}):" if reason else ":"))
        out += ["    " + line for line in compact(qs)]
    return out


def _label(resource: str, group: str) -> str:
    base, _, sub = resource.partition("/")
    return base + (f".{group}" if group else "") + (f"/{sub}" if sub else "")


def matrix_cells(outcome: VerifyOutcome, namespace: str) -> list[tuple[str, list[str]]]:
    """(resource label, one cell per verb): the matrix question, or a grant proof of the same request."""
    by_key = {q.key: q for q in outcome.plan.questions}
    rows = []
    for resource, group in outcome.plan.matrix[namespace]:
        cells = []
        for verb in MATRIX_VERBS:
            q = by_key.get((outcome.plan.user, Access(verb, resource, group), namespace))
            cells.append(cell(q.expected, outcome.answers[q.key][0]) if q else " ")
        rows.append((_label(resource, group), cells))
    return rows


def matrix_lines(outcome: VerifyOutcome, namespace: str) -> list[str]:
    rows = matrix_cells(outcome, namespace)
    width = max([len("RESOURCE")] + [len(r) for r, _ in rows])
    out = ["RESOURCE".ljust(width) + "  " + "  ".join(v.upper().center(6) for v in MATRIX_VERBS)]
    for label, cells in rows:
        out.append(label.ljust(width) + "  " + "  ".join(c.center(6) for c in cells))
    return out


def isolation_lines(checks: list) -> list[str]:
    """`runnerkit verify`'s isolation section: one line per GitLab tenant (gitlab.enforcement)."""
    if not checks:
        return []
    lines = ["isolation of GitLab projects on shared runners (dry-run pods as the runner manager):"]
    for c in checks:
        mark = "✔" if c.ok else ("!" if c.status.startswith("not enforced (") else "✘")
        lines.append(f"  {mark} {c.project} (namespace {c.namespace}): {c.status}: {c.detail}")
    return lines + [""]


def isolation_holds(checks: list) -> bool:
    """Unsupported clusters (< 1.30) are reported, not failed: apply warned about them already."""
    return all(c.ok or c.status.startswith("not enforced (") for c in checks)


def scope_lines(outcomes: list[VerifyOutcome], result: Verified | None) -> list[str]:
    """Where verify probed besides each account's own namespaces, and what its reviews covered."""
    if result is None:
        return []
    scope, asked = result.scope, result.asked
    fixed = ", ".join(FIXED_NAMESPACES[:-1]) + f" and {SENTINEL_NAMESPACE} (a namespace that does not exist)"
    found = sorted({ns for o in outcomes for ns in o.plan.probed} - set(FIXED_NAMESPACES))
    if scope.complete:
        where = (f"{len(found)} namespace{'s' if len(found) != 1 else ''} where a RoleBinding names an account "
                 "or its groups" + (f" ({', '.join(found[:5])}{', ...' if len(found) > 5 else ''})" if found else ""))
        lines = [f"probed outside the accounts' own namespaces: {fixed}, and {where}"]
    else:
        lines = [f"! bindings not listed ({scope.reason}): probed {fixed}, and a sample of {len(scope.sample)} "
                 "project namespaces instead of every namespace a binding reaches; bindings the spec does not "
                 "render were not checked"]
    shared = "questions RBAC cannot tell apart shared one review" if scope.complete and scope.shared else \
        "every account asked for itself"
    lines.append(f"{asked.reviews} access review{'s' if asked.reviews != 1 else ''} answered {asked.questions} "
                 f"questions ({shared}; drifts asked again for their own account: {asked.rechecked})")
    return lines + [""]


def text(outcomes: list[VerifyOutcome], isolation: list | None = None, result: Verified | None = None) -> str:
    lines: list[str] = []
    for o in outcomes:
        lines.append(o.plan.title)
        for problem in o.plan.problems:
            lines.append(f"  ✘ {problem}")
        grants: dict[str, list[Question]] = {}
        for q in o.plan.questions:
            if q.kind == "grant":
                grants.setdefault(q.label, []).append(q)
        for label, qs in grants.items():
            denied = [q for q in qs if not o.answers[q.key][0]]
            where = ", ".join(dict.fromkeys(q.namespace or "cluster-wide" for q in qs))
            if denied:
                lines.append(f"  ✘ grant {label}: denied " + ", ".join(f"{q.access.text()} {q.where()}" for q in denied))
            else:
                lines.append(f"  ✔ grant {label}: {len(qs)} permission{'s' if len(qs) != 1 else ''} "
                             f"effective ({where})")
        for ns in o.plan.matrix:
            lines.append(f"  access in namespace {ns} ({LEGEND}):")
            lines += ["    " + line for line in matrix_lines(o, ns)]
        probes = [q for q in o.plan.questions if q.kind == "probe" and not q.expected]
        held = [q for q in probes if not o.answers[q.key][0]]
        if probes:
            categories = ", ".join(dict.fromkeys(q.label for q in probes))
            mark = "✔" if len(held) == len(probes) else "✘"
            lines.append(f"  {mark} {len(held)} of {len(probes)} undeclared operations denied ({categories})")
        lines += ["  " + line for line in drift_lines(o)]
        for b in o.extra_bindings:
            lines.append(f"  ✘ not in runnerkit.yaml: {b} names this ServiceAccount")
        lines.append("")
    lines += scope_lines(outcomes, result)
    lines += isolation_lines(isolation or [])
    if not isolation_holds(isolation or []):
        lines.append("isolation: NOT proven for every GitLab tenant (see above)")
    bad = [o for o in outcomes if not o.ok]
    drifts = sum(len(o.drift()) + len(o.extra_bindings) + len(o.plan.problems) for o in outcomes)
    if bad:
        lines.append(f"drift: {drifts} difference{'s' if drifts != 1 else ''} in {len(bad)} of "
                     f"{len(outcomes)} ServiceAccount{'s' if len(outcomes) != 1 else ''}; the cluster grants something other than runnerkit.yaml says")
    else:
        reviews = result.asked.reviews if result else len({q.key for o in outcomes for q in o.plan.questions})
        accounts = f"{len(outcomes)} ServiceAccount{'s' if len(outcomes) != 1 else ''}"
        lines.append(f"ok: {accounts} {'have' if len(outcomes) != 1 else 'has'} exactly the access "
                     f"runnerkit.yaml declares ({reviews} access reviews)")
    return "\n".join(lines) + "\n"


def to_json(outcomes: list[VerifyOutcome], isolation: list | None = None, result: Verified | None = None) -> dict:
    accounts = []
    for o in outcomes:
        accounts.append({
            "account": o.plan.title, "user": o.plan.user, "ok": o.ok, "problems": o.plan.problems,
            "undeclaredBindings": o.extra_bindings,
            "drift": [{"request": q.access.text(), "verb": q.access.verb, "resource": q.access.resource,
                       "group": q.access.group, "namespace": q.namespace, "declared": q.expected,
                       "allowed": o.answers[q.key][0], "reason": o.answers[q.key][1], "kind": q.kind,
                       "label": q.label} for q in o.drift()],
            "matrix": {ns: {label: dict(zip(MATRIX_VERBS, cells)) for label, cells in matrix_cells(o, ns)}
                       for ns in o.plan.matrix},
            "checked": len(o.plan.questions),
            "probedNamespaces": o.plan.probed,
        })
    out = {"ok": all(o.ok for o in outcomes) and isolation_holds(isolation or []), "accounts": accounts,
           "isolation": [c.to_dict() for c in isolation or []]}
    if result is not None:
        scope, asked = result.scope, result.asked
        out["scope"] = {"bindingsListed": scope.complete, "reason": scope.reason or None,
                        "fixedNamespaces": list(FIXED_NAMESPACES), "sampledNamespaces": list(scope.sample),
                        "listed": scope.counts, "sharedAnswers": scope.complete and scope.shared}
        out["reviews"] = {"sent": asked.reviews, "questions": asked.questions, "driftsAskedAgain": asked.rechecked}
    return out
