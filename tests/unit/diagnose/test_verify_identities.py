"""verify for CI identities: the planned questions (pure) — who is asked, and what is expected."""

from conftest import FIXTURES
from runnerkit.cli.files import read_spec
from runnerkit.diagnose.verify_identities import IdentityCheck, cases, plan, text

SPEC = read_spec(FIXTURES / "identities.yaml")


def test_cases_vary_one_fact_each_and_only_the_declared_job_is_in_the_bound_group():
    main = SPEC.project("app").identities[0]
    found = {c.label: c for c in cases(main)}
    assert list(found) == ["declared job", "another repository", "another ref", "a pull request"]
    assert "github:repo:acme/app:ref:refs/heads/main" in found["declared job"].groups
    for label in ("another repository", "another ref", "a pull request"):
        assert "github:repo:acme/app:ref:refs/heads/main" not in found[label].groups
    gitlab = SPEC.project("app").identities[2]
    assert [c.label for c in cases(gitlab)] == ["declared job", "another project", "another ref",
                                                "another ref type", "another environment", "an unprotected ref"]


def test_the_declared_job_is_expected_allowed_in_its_namespace_only_and_variants_nowhere():
    [main, *_] = plan(SPEC, ["app"])
    declared = [q for q in main.questions if q[0].label == "declared job"]
    assert {q[2] for q in declared} == {"app", "web"}
    assert all(q[3] for q in declared if q[2] == "app") and not any(q[3] for q in declared if q[2] == "web")
    assert len([q for q in declared if q[2] == "app"]) == len(SPEC.project("app").grants[0].rules)  # one request per rule
    assert not any(q[3] for q in main.questions if q[0].label != "declared job")


def test_report_names_drift_with_the_mapped_user():
    [check] = plan(SPEC, ["app"])[:1]
    check.answers = {}
    for q in check.questions:
        key = (q[0].username, q[0].groups, q[1], q[2])
        check.answers[key] = q[3] or q[0].label == "a pull request"
    out = text([check])
    assert "  x project app: github acme/app; refs refs/heads/main; no pull requests" in out
    assert "x a pull request: get secrets in app is ALLOWED but the spec says denied (user github:repo:acme/app" in out
    assert isinstance(check, IdentityCheck)
