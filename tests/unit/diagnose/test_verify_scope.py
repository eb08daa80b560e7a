"""runnerkit verify at fleet scale, the pure part: where accounts are probed (List/Find/Probe), which
questions share one review, how many questions a spec of N projects plans, and one review per
distinct question in doctor --need."""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path

from runnerkit.desired import render
from runnerkit.diagnose import doctor, verify, verify_report
from runnerkit.diagnose.doctor_rules import parse_need
from runnerkit.diagnose.verify_ask import ask
from runnerkit.diagnose.verify_run import Verified
from runnerkit.diagnose.verify_scope import FALLBACK_SAMPLE, FIXED_NAMESPACES, SENTINEL_NAMESPACE, build
from runnerkit.model.rbac import Access, RoleIndex
from runnerkit.model.validate import loads

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
import benchlib  # noqa: E402

WEB = "system:serviceaccount:web:web-ci"
RBAC = "rbac.authorization.k8s.io"


def rb(name, namespace, role, *subjects, kind="ClusterRole"):
    return {"kind": "RoleBinding", "metadata": {"name": name, "namespace": namespace},
            "roleRef": {"apiGroup": RBAC, "kind": kind, "name": role}, "subjects": list(subjects)}


def crb(name, role, *subjects):
    return {"kind": "ClusterRoleBinding", "metadata": {"name": name},
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role}, "subjects": list(subjects)}


def sa(namespace, name):
    return {"kind": "ServiceAccount", "namespace": namespace, "name": name}


def group(name):
    return {"kind": "Group", "apiGroup": RBAC, "name": name}


def role(namespace, name, verbs=("get",)):
    return {"kind": "Role", "metadata": {"namespace": namespace, "name": name},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": list(verbs)}]}


def test_find_probes_namespaces_where_a_role_binding_names_the_account_or_its_groups():
    scope = build([crb("everyone", "view", group("system:serviceaccounts"))], [
        rb("peek", "api", "edit", sa("web", "web-ci")),
        rb("as-user", "billing", "view", {"kind": "User", "name": WEB}),
        rb("ns-group", "data", "view", group("system:serviceaccounts:web")),
        rb("all", "shared", "view", group("system:authenticated")),
        rb("other-ns-group", "x", "view", group("system:serviceaccounts:api")),
        rb("other-sa", "y", "view", sa("api", "api-ci")),
        rb("own", "web", "edit", sa("web", "web-ci")),
    ], [], ["web", "api"])
    assert scope.complete
    assert scope.others(WEB, {"web"}) == [*FIXED_NAMESPACES, "api", "billing", "data", "shared"]
    # a ClusterRoleBinding reaches every namespace alike: the sentinel stands for all of them
    assert scope.others("system:serviceaccount:z:z", set()) == [*FIXED_NAMESPACES, "shared"]


def test_without_the_binding_lists_a_bounded_sample_is_probed():
    namespaces = [f"ns{i:03d}" for i in range(100)]
    scope = build(None, None, None, namespaces, "listing RoleBindings is forbidden")
    assert not scope.complete and scope.reason == "listing RoleBindings is forbidden"
    assert len(scope.sample) == FALLBACK_SAMPLE and set(scope.sample) <= set(namespaces)
    others = scope.others("system:serviceaccount:ns000:a", {"ns000"})
    assert others[:3] == list(FIXED_NAMESPACES) and len(others) <= 3 + FALLBACK_SAMPLE and "ns000" not in others
    assert scope.share_key(WEB, Access("get", "pods"), "web") == (WEB, Access("get", "pods"), "web")


def test_questions_share_a_review_only_when_rbac_cannot_tell_them_apart():
    a, b, c = ("system:serviceaccount:a:a-ci", "system:serviceaccount:b:b-ci", "system:serviceaccount:c:c-ci")
    scope = build([crb("direct", "view", sa("c", "c-ci"))],
                  [rb("ra", "a", "reader", sa("a", "a-ci"), kind="Role"),
                   rb("rb", "b", "reader", sa("b", "b-ci"), kind="Role"),
                   rb("rc", "c", "reader", sa("c", "c-ci"), kind="Role"),
                   rb("writer", "b", "writer", sa("b", "b-ci"), kind="Role")],
                  [role("a", "reader"), role("b", "reader"), role("c", "reader"), role("b", "writer", ("create",))],
                  ["a", "b", "c"])
    get = Access("get", "pods")
    # same rules bound in different namespaces: the same answer
    assert scope.share_key(a, get, "a") == scope.share_key(a, get, "a")
    assert scope.share_key(a, get, "a") != scope.share_key(b, get, "b")  # b has a second Role there
    assert scope.share_key(a, get, "a") != scope.share_key(c, get, "c")  # c has a ClusterRoleBinding of its own
    assert scope.share_key(a, get, "b") == scope.share_key(a, get, SENTINEL_NAMESPACE)  # nothing binds a in b
    assert scope.share_key(a, get, "a") != scope.share_key(a, Access("list", "pods"), "a")
    # a cluster-scoped request is never shared with a namespaced one
    assert scope.share_key(a, Access("get", "nodes"), None) != scope.share_key(a, Access("get", "nodes"), "x")
    scope.shared = False
    assert scope.share_key(a, get, "a") == (a, get, "a")


def test_roles_that_could_not_be_listed_are_told_apart_by_name():
    scope = build([], [rb("ra", "a", "reader", sa("a", "a-ci"), kind="Role"),
                       rb("rb", "b", "reader", sa("b", "b-ci"), kind="Role")], None, ["a", "b"])
    get = Access("get", "pods")
    assert (scope.share_key("system:serviceaccount:a:a-ci", get, "a")
            != scope.share_key("system:serviceaccount:b:b-ci", get, "b"))


def cluster_scope(spec):
    """The binding lists of a cluster where exactly this spec is applied."""
    objects = render(spec)
    return build([o for o in objects if o["kind"] == "ClusterRoleBinding"],
                 [o for o in objects if o["kind"] == "RoleBinding"],
                 [o for o in objects if o["kind"] == "Role"], [p.namespace for p in spec.projects])


@lru_cache(maxsize=None)
def bench_plans(n: int):
    """The plans for the bench's spec of n projects, on a cluster where exactly it is applied."""
    spec = loads(benchlib.spec_text("bench", "b", n))
    scope = cluster_scope(spec)
    return scope, verify.plan(spec, RoleIndex([], []), scope=scope)


def planned(n: int) -> tuple[int, int]:
    """(distinct questions, reviews they need) for the bench's spec of n projects."""
    scope, plans = bench_plans(n)
    keys = {q.key for p in plans for q in p.questions}
    return len(keys), len({scope.share_key(*k) for k in keys})


def test_planned_questions_grow_linearly_with_projects():
    (q10, r10), (q100, r100), (q200, r200) = planned(10), planned(100), planned(200)
    # the same cost for every project added (presets take turns, hence 1 %): no N x N term
    assert abs((q200 - q100) / 100 - (q100 - q10) / 90) < 0.01 * (q100 - q10) / 90
    assert (q200 - q100) / 100 < 250
    # the reviews those questions need do not grow at all: every project is one of three presets
    assert r10 == r100 == r200 < 500


def test_a_project_plans_the_same_questions_however_many_projects_share_the_cluster():
    counts = [[len(p.questions) for p in bench_plans(n)[1][:10]] for n in (10, 100, 200)]
    assert counts[0] == counts[1] == counts[2]


class FakeClient:
    """Answers SubjectAccessReviews like RBAC would for the plans' expectations, plus `leaks`
    ((verb, resource) allowed to every account everywhere, as a ClusterRoleBinding to a group would)."""

    def __init__(self, leaks=(), plans=()):
        self.leaks, self.sent = set(leaks), []
        self.allowed = {(q.user, q.access, q.namespace) for p in plans for q in p.questions if q.expected}

    def review(self, user, verb, resource, namespace=None, group="", name=None):
        self.sent.append((user, verb, resource, namespace))
        yes = (user, Access(verb, resource, group, name), namespace) in self.allowed or (verb, resource) in self.leaks
        return yes, f"allowed for {user}" if yes else ""

    def can(self, user, verb, resource, namespace=None, group="", name=None):
        return self.review(user, verb, resource, namespace, group, name)[0]

    def parallel(self, fn, items):
        return [fn(i) for i in items]


def test_each_shared_question_is_asked_once_and_every_drift_again_for_its_own_account():
    spec = loads(benchlib.spec_text("bench", "b", 30))
    scope = cluster_scope(spec)
    plans = verify.plan(spec, RoleIndex([], []), scope=scope)
    client = FakeClient({("list", "secrets")}, plans)
    seen = []
    asked = ask(client, plans, scope, lambda done, total: seen.append((done, total)))
    assert asked.reviews == len(client.sent) < len({q.key for p in plans for q in p.questions}) / 10
    assert seen[-1] == (len(plans), len(plans))
    leaks = [q.key for p in plans for q in p.questions if q.access == Access("list", "secrets") and not q.expected]
    assert len(leaks) > 60 and asked.rechecked < len(leaks)  # some were the review of their own class
    for user, access, ns in leaks:
        assert asked.answers[(user, access, ns)] == (True, f"allowed for {user}")  # each account's own answer
    # without sharing, every distinct question is its own review
    scope.shared = False
    client = FakeClient((), plans)
    assert ask(client, plans, scope).reviews == len({q.key for p in plans for q in p.questions})


def test_report_says_where_it_probed_and_when_it_could_only_sample():
    spec = loads(benchlib.spec_text("bench", "b", 3))
    for scope in (cluster_scope(spec), build(None, None, None, [p.namespace for p in spec.projects],
                                             "listing RoleBindings is forbidden")):
        plans = verify.plan(spec, RoleIndex([], []), scope=scope)
        asked = ask(FakeClient((), plans), plans, scope)
        answers = {k: (q.expected, "") for p in plans for q in p.questions for k in [q.key]}
        outcomes = [verify.VerifyOutcome(p, answers, []) for p in plans]
        text = verify_report.text(outcomes, [], Verified(outcomes, scope, asked))
        data = verify_report.to_json(outcomes, [], Verified(outcomes, scope, asked))
        assert data["scope"]["bindingsListed"] is scope.complete
        assert data["reviews"]["sent"] == asked.reviews and data["reviews"]["questions"] == asked.questions
        assert data["accounts"][0]["probedNamespaces"][:3] == list(FIXED_NAMESPACES)
        assert f"ok: 4 ServiceAccounts have exactly the access runnerkit.yaml declares ({asked.reviews} access " \
               "reviews)" in text
        if scope.complete:
            assert "probed outside the accounts' own namespaces: kube-system, default and " \
                   f"{SENTINEL_NAMESPACE} (a namespace that does not exist), and 0 namespaces" in text
        else:
            assert "! bindings not listed (listing RoleBindings is forbidden): probed kube-system" in text
            assert data["scope"]["sampledNamespaces"] == ["b-p0000", "b-p0001", "b-p0002"]
            assert "bindings the spec does not render were not checked" in text


def test_doctor_sends_one_review_per_distinct_question():
    client = FakeClient()
    report = doctor.DoctorReport()
    needs = [parse_need("helm-deployer"), parse_need("list secrets"), parse_need("list secrets"),
             parse_need("create pods/exec")]
    doctor._needs(report, client, needs, "web", doctor.Options(as_user=WEB), None)
    distinct = {a for n in needs for a in n.accesses}
    assert len(client.sent) == len(distinct) < sum(len(n.accesses) for n in needs)
    assert len(report.results) == 4 and all(r.status == "fail" for r in report.results)


def test_forbidden_binding_lists_fall_back_to_a_sample_and_forbidden_cluster_roles_stop(monkeypatch):
    import pytest

    from runnerkit.diagnose import verify_run
    from runnerkit.errors import Forbidden

    spec = loads(benchlib.spec_text("bench", "b", 40))
    objects = render(spec)

    class Lister(FakeClient):
        def __init__(self, forbidden):
            super().__init__()
            self.forbidden = forbidden

        def list_objects(self, kind):
            if kind.kind in self.forbidden:
                raise Forbidden(f"{kind.plural} is forbidden (403 Forbidden)", 403)
            return [o for o in objects if o["kind"] == kind.kind]

    client = Lister({"RoleBinding"})
    client.allowed = {(q.user, q.access, q.namespace) for p in verify.plan(spec, RoleIndex([], []))
                      for q in p.questions if q.expected}
    result = verify_run.run(client, spec)
    assert not result.scope.complete and result.scope.reason == "listing RoleBindings is forbidden"
    assert len(result.scope.sample) == FALLBACK_SAMPLE
    assert all(o.ok and o.extra_bindings == [] for o in result.outcomes)
    assert result.asked.reviews == result.asked.questions  # nothing shared without the lists
    data = verify_report.to_json(result.outcomes, [], result)
    assert data["scope"]["bindingsListed"] is False and data["scope"]["sharedAnswers"] is False
    with pytest.raises(Forbidden, match="verify needs list on clusterroles"):
        verify_run.run(Lister({"ClusterRole"}), spec)


def test_progress_goes_to_a_terminal_only():
    import io

    from runnerkit.diagnose.verify_run import progress_line

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert progress_line(io.StringIO()) is None
    tty = Terminal()
    show = progress_line(tty)
    show(64, 501)
    show(501, 501)
    assert tty.getvalue() == "\r64/501 accounts proven\r501/501 accounts proven\r\033[K"
