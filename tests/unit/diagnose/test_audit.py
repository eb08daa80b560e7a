"""runnerkit audit, the pure rules: exact findings for risky grants and runner templates, scoping,
exclusions, a clean runnerkit render, and speed on 10 000 RoleBindings."""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import FIXTURES
from runnerkit.diagnose import audit_report
from runnerkit.diagnose.audit import CHECKS, Inventory, Scope, audit
from runnerkit.gitlab.audit_rules import anchored, matches_anything, runner_namespaces
from runnerkit.desired import render
from runnerkit.model.validate import loads

ADMIN_RULES = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}]


def cr(name, rules, labels=None):
    return {"metadata": {"name": name, "labels": labels or {}}, "rules": rules}


def role(ns, name, rules):
    return {"metadata": {"name": name, "namespace": ns}, "rules": rules}


def crb(name, role_name, *subjects):
    return {"metadata": {"name": name}, "roleRef": {"kind": "ClusterRole", "name": role_name},
            "subjects": list(subjects)}


def rb(ns, name, kind, role_name, *subjects):
    return {"metadata": {"name": name, "namespace": ns}, "roleRef": {"kind": kind, "name": role_name},
            "subjects": list(subjects)}


def sa(ns, name):
    return {"kind": "ServiceAccount", "name": name, "namespace": ns}


def sa_obj(ns, name):
    return {"metadata": {"name": name, "namespace": ns}}


def rule(groups, resources, verbs, names=None):
    out = {"apiGroups": groups, "resources": resources, "verbs": verbs}
    if names:
        out["resourceNames"] = names
    return out


# The runner-setting checks and reach lines have their own tests (test_audit_runner_rules.py).
RUNNER_SETTING_CHECKS = {"runner-privileged", "runner-any-image", "runner-pull-policy", "pod-overwrite-one-namespace",
                         "namespace-per-job", "helper-image-override", "runner-reach"}


def old(report) -> list:
    return [f for f in report.findings if f.check not in RUNNER_SETTING_CHECKS]


def keys(report):
    return {(f.severity, f.check, f.subject, f.binding) for f in report.findings
            if f.check not in RUNNER_SETTING_CHECKS}


def fixture_objects(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((FIXTURES / "gitlab-runner" / name).read_text()) if d]


def inventory(**kinds) -> Inventory:
    kinds.setdefault("cluster_roles", [cr("cluster-admin", ADMIN_RULES)])
    accounts = kinds.pop("accounts", [])
    kinds.setdefault("service_accounts", [sa_obj(ns, n) for ns, n in accounts])
    return Inventory(**kinds)


# -- RBAC findings ----------------------------------------------------------------------------------------


def test_default_service_account_bound_to_cluster_admin_is_one_critical_finding():
    inv = inventory(cluster_role_bindings=[crb("oops", "cluster-admin", sa("ci", "default"))],
                    accounts=[("ci", "default")])
    report = audit(inv)
    assert keys(report) == {("CRITICAL", "default-sa-admin", "ServiceAccount ci/default", "ClusterRoleBinding/oops")}
    f = report.findings[0]
    assert f.role == "ClusterRole/cluster-admin" and f.rule == 'apiGroups: ["*"] resources: ["*"] verbs: ["*"]'
    assert "delete ClusterRoleBinding/oops" in f.fix and "`default`" in f.why


def test_default_service_account_bound_to_a_wildcard_role_in_its_namespace():
    inv = inventory(roles=[role("ci", "all", [rule([""], ["*"], ["*"])])],
                    role_bindings=[rb("ci", "all", "Role", "all", sa("ci", "default"))], accounts=[("ci", "default")])
    assert keys(audit(inv)) == {("CRITICAL", "default-sa-admin", "ServiceAccount ci/default", "RoleBinding/all -n ci")}


def test_cluster_admin_for_service_accounts_groups_and_users():
    inv = inventory(cluster_role_bindings=[
        crb("deployer", "cluster-admin", sa("ci", "deployer")),
        crb("all-sas", "cluster-admin", {"kind": "Group", "name": "system:serviceaccounts:ci"}),
        crb("alice", "cluster-admin", {"kind": "User", "name": "alice"}),
        crb("masters", "cluster-admin", {"kind": "Group", "name": "system:masters"}),
    ], role_bindings=[rb("ci", "ns-admin", "ClusterRole", "cluster-admin", sa("ci", "deployer"))],
        accounts=[("ci", "deployer")])
    assert keys(audit(inv)) == {
        ("CRITICAL", "cluster-admin-sa", "ServiceAccount ci/deployer", "ClusterRoleBinding/deployer"),
        ("CRITICAL", "cluster-admin-sa", "ServiceAccount ci/deployer", "RoleBinding/ns-admin -n ci"),
        ("CRITICAL", "cluster-admin-sa", "Group system:serviceaccounts:ci", "ClusterRoleBinding/all-sas"),
        ("MEDIUM", "cluster-admin-user", "User alice", "ClusterRoleBinding/alice"),
    }  # system:masters is a system: subject: left out by default


@pytest.mark.parametrize("rules,checks", [
    ([rule(["rbac.authorization.k8s.io"], ["clusterroles"], ["escalate"])], {"escalate"}),
    ([rule(["rbac.authorization.k8s.io"], ["roles"], ["bind"])], {"bind"}),
    ([rule([""], ["users", "groups"], ["impersonate"])], {"impersonate"}),
    ([rule([""], ["nodes/proxy"], ["get"])], {"nodes-proxy"}),
    ([rule([""], ["serviceaccounts/token"], ["create"], ["builder"])], {"sa-token"}),
    ([rule([""], ["secrets"], ["list"])], {"secrets-cluster-wide"}),
    ([rule([""], ["secrets"], ["get"], ["only-this"])], set()),
    ([rule([""], ["pods/exec"], ["create"])], {"exec-cluster-wide"}),
    ([rule([""], ["pods/attach"], ["get"])], {"exec-cluster-wide"}),
    ([rule(["apps"], ["deployments"], ["create"]), rule([""], ["secrets"], ["get"])],
     {"workloads-and-secrets", "secrets-cluster-wide"}),
    ([rule(["apps"], ["deployments"], ["*"])], {"wildcard"}),
    ([rule([""], ["pods", "configmaps"], ["get", "list"])], set()),
])
def test_cluster_wide_capabilities(rules, checks):
    inv = inventory(cluster_roles=[cr("risky", rules)],
                    cluster_role_bindings=[crb("risky", "risky", sa("apps", "bot"))], accounts=[("apps", "bot")])
    report = audit(inv)
    assert {f.check for f in report.findings} == checks
    assert all(f.severity == CHECKS[f.check].severity for f in report.findings)


@pytest.mark.parametrize("rules,checks", [
    ([rule(["rbac.authorization.k8s.io"], ["roles"], ["escalate", "bind"])], {"escalate", "bind"}),
    ([rule([""], ["serviceaccounts/token"], ["create"])], {"sa-token"}),
    ([rule([""], ["serviceaccounts"], ["impersonate"])], {"impersonate"}),
    # cluster-scoped or cluster-wide-only risks do not apply inside one namespace
    ([rule([""], ["users"], ["impersonate"])], set()),
    ([rule([""], ["nodes/proxy"], ["get"])], set()),
    ([rule([""], ["secrets"], ["get", "list", "watch"])], set()),
    ([rule([""], ["pods/exec"], ["create"]), rule([""], ["pods"], ["create"]), rule([""], ["secrets"], ["get"])], set()),
])
def test_namespaced_capabilities(rules, checks):
    inv = inventory(roles=[role("apps", "r", rules)], role_bindings=[rb("apps", "r", "Role", "r", sa("apps", "bot"))],
                    accounts=[("apps", "bot")])
    assert {f.check for f in audit(inv).findings} == checks


def test_the_chart_role_is_flagged_for_what_core_wildcards_allow():
    objs = fixture_objects("default.yaml")
    by = {k: [o for o in objs if o["kind"] == k] for k in ("Role", "RoleBinding", "ServiceAccount", "ConfigMap")}
    report = audit(inventory(roles=by["Role"], role_bindings=by["RoleBinding"], service_accounts=by["ServiceAccount"],
                             config_maps=by["ConfigMap"]))
    subject, binding = "ServiceAccount gitlab-runner/gitlab-runner", "RoleBinding/gitlab-runner -n gitlab-runner"
    assert keys(report) == {("CRITICAL", "impersonate", subject, binding), ("CRITICAL", "sa-token", subject, binding),
                            ("HIGH", "wildcard", subject, binding)}
    assert report.runner_namespaces == ["gitlab-runner"]


def test_aggregated_cluster_roles_are_resolved_from_labels():
    aggregated = {"metadata": {"name": "ci-power"}, "rules": [],
                  "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"ci/aggregate": "true"}}]}}
    part = cr("ci-power-part", [rule(["rbac.authorization.k8s.io"], ["clusterrolebindings", "clusterroles"], ["bind"])],
              {"ci/aggregate": "true"})
    inv = inventory(cluster_roles=[aggregated, part], cluster_role_bindings=[crb("power", "ci-power", sa("ci", "bot"))],
                    accounts=[("ci", "bot")])
    assert keys(audit(inv)) == {("CRITICAL", "bind", "ServiceAccount ci/bot", "ClusterRoleBinding/power")}


def test_runner_namespace_accounts_with_cluster_wide_rights():
    cm = fixture_objects("default.yaml")[2]
    assert cm["kind"] == "ConfigMap"
    view = cr("view", [rule([""], ["pods"], ["get", "list"])])
    inv = inventory(cluster_roles=[view], config_maps=[cm],
                    cluster_role_bindings=[crb("runner-view", "view", sa("gitlab-runner", "gitlab-runner")),
                                           crb("app-view", "view", sa("apps", "bot"))],
                    accounts=[("gitlab-runner", "gitlab-runner"), ("apps", "bot")])
    assert keys(audit(inv)) == {("HIGH", "runner-sa-cluster-wide", "ServiceAccount gitlab-runner/gitlab-runner",
                                 "ClusterRoleBinding/runner-view")}
    # namespaces of a spec count too
    with_spec = audit(inv, Scope(spec_namespaces=frozenset({"apps"})))
    assert {f.subject for f in old(with_spec)} == {"ServiceAccount gitlab-runner/gitlab-runner",
                                                        "ServiceAccount apps/bot"}


def test_dangling_subjects():
    inv = inventory(cluster_roles=[cr("view", [rule([""], ["pods"], ["get"])])],
                    cluster_role_bindings=[crb("ghost", "view", sa("gone", "bot"))])
    assert keys(audit(inv)) == {("MEDIUM", "dangling-subject", "ServiceAccount gone/bot", "ClusterRoleBinding/ghost")}


def test_system_subjects_and_kube_system_are_left_out_unless_asked():
    secret_reader = cr("reader", [rule([""], ["secrets"], ["list"])])
    inv = inventory(cluster_roles=[secret_reader, cr("cluster-admin", ADMIN_RULES)], cluster_role_bindings=[
        crb("ctrl", "reader", sa("kube-system", "ctrl")),
        crb("node", "reader", {"kind": "User", "name": "system:kube-proxy"}),
        crb("everyone", "reader", {"kind": "Group", "name": "system:authenticated"}),
    ], role_bindings=[rb("kube-system", "local", "ClusterRole", "cluster-admin", sa("apps", "bot"))],
        accounts=[("kube-system", "ctrl"), ("apps", "bot")])
    assert keys(audit(inv)) == {("HIGH", "secrets-cluster-wide", "Group system:authenticated", "ClusterRoleBinding/everyone")}
    everything = keys(audit(inv, Scope(include_system=True)))
    assert ("HIGH", "secrets-cluster-wide", "ServiceAccount kube-system/ctrl", "ClusterRoleBinding/ctrl") in everything
    assert ("HIGH", "secrets-cluster-wide", "User system:kube-proxy", "ClusterRoleBinding/node") in everything
    assert ("CRITICAL", "cluster-admin-sa", "ServiceAccount apps/bot", "RoleBinding/local -n kube-system") in everything


def test_namespace_scope_filters_bindings_and_cluster_bindings_by_subject_namespace():
    reader = cr("reader", [rule([""], ["secrets"], ["list"])])
    inv = inventory(cluster_roles=[reader, cr("cluster-admin", ADMIN_RULES)], cluster_role_bindings=[
        crb("mine", "reader", sa("a", "bot")), crb("theirs", "reader", sa("b", "bot")),
        crb("human", "reader", {"kind": "User", "name": "alice"}),
    ], role_bindings=[rb("a", "admin", "ClusterRole", "cluster-admin", sa("a", "bot")),
                      rb("b", "admin", "ClusterRole", "cluster-admin", sa("b", "bot")),
                      rb("b", "to-a", "ClusterRole", "cluster-admin", sa("a", "bot"))],
        accounts=[("a", "bot"), ("b", "bot")])
    assert keys(audit(inv, Scope(namespaces=frozenset({"a"})))) == {
        ("HIGH", "secrets-cluster-wide", "ServiceAccount a/bot", "ClusterRoleBinding/mine"),
        ("CRITICAL", "cluster-admin-sa", "ServiceAccount a/bot", "RoleBinding/admin -n a"),
        ("CRITICAL", "cluster-admin-sa", "ServiceAccount a/bot", "RoleBinding/to-a -n b"),
    }
    runner_cm = {"metadata": {"name": "r", "namespace": "b"}, "data": {"config.template.toml": "[[runners]]\n"}}
    only_runners = audit(Inventory(**{**inv.__dict__, "config_maps": [runner_cm]}), Scope(runner_namespaces_only=True))
    # b is a runner namespace: its own accounts, and whatever is bound in it, count
    assert {(f.subject, f.binding) for f in old(only_runners)} == {
        ("ServiceAccount b/bot", "ClusterRoleBinding/theirs"), ("ServiceAccount b/bot", "RoleBinding/admin -n b"),
        ("ServiceAccount a/bot", "RoleBinding/to-a -n b")}


def test_a_clean_runnerkit_render_audits_clean():
    objects = render(loads((FIXTURES.parent.parent / "runnerkit" / "examples" / "runnerkit.yaml").read_text()))
    by = lambda kind: [o for o in objects if o["kind"] == kind]  # noqa: E731
    accounts = by("ServiceAccount") + [sa_obj("gitlab-runner", "gitlab-runner")]
    view = cr("view", [rule([""], ["pods", "configmaps"], ["get", "list", "watch"])])
    report = audit(Inventory([view] + by("ClusterRole"), by("Role"), by("ClusterRoleBinding"), by("RoleBinding"),
                             accounts, []))
    assert report.findings == []
    assert report.counts["RoleBindings"] == len(by("RoleBinding")) > 5


# -- runner configs -------------------------------------------------------------------------------------


@pytest.mark.parametrize("regex,anything,is_anchored", [
    (".*", True, False), (".+", True, False), ("^.*$", True, True), ("(.*)", True, False),
    ("ci-.*", False, False), ("^ci-.*", False, False), ("^ci-.*$", False, True),
    ("^(?:web|api)$", False, True), ("^web|api$", False, False), ("^[|]$", False, True),
    (r"^web\$", False, False),
])
def test_regex_classification(regex, anything, is_anchored):
    assert matches_anything(regex) is anything
    assert anchored(regex) is is_anchored


def runner_cm(template: str, ns: str = "gitlab", name: str = "runner", config: str | None = None) -> dict:
    data = {"config.template.toml": template}
    if config is not None:
        data["config.toml"] = config
    return {"metadata": {"name": name, "namespace": ns}, "data": data}


def test_the_already_overwrite_fixture_is_flagged():
    cm = [o for o in fixture_objects("already-overwrite.yaml") if o["kind"] == "ConfigMap"][0]
    report = audit(inventory(config_maps=[cm]))
    assert [(f.severity, f.check, f.rule) for f in old(report)] == [
        ("HIGH", "overwrite-any", 'config.template.toml [[runners]][0].kubernetes.namespace_overwrite_allowed = ".*"'),
        ("HIGH", "overwrite-any",
         'config.template.toml [[runners]][0].kubernetes.service_account_overwrite_allowed = ".*"'),
    ]
    assert all(f.subject == "ConfigMap gitlab-runner/gitlab-runner" and f.binding == "" for f in old(report))
    assert "configure-runner" in old(report)[0].fix


def test_runner_template_checks():
    template = """
[[runners]]
  [runners.kubernetes]
    namespace = "ci-jobs"
    namespace_overwrite_allowed = "^(?:web|api)$"
    service_account_overwrite_allowed = "ci"
    node_selector_overwrite_allowed = ".*"
    pod_labels_overwrite_allowed = ""
    bearer_token_overwrite_allowed = true
[[runners]]
  [runners.kubernetes]
    bearer_token_overwrite_allowed = false
"""
    report = audit(inventory(config_maps=[runner_cm(template)]))
    assert [(f.severity, f.check, f.rule) for f in old(report)] == [
        ("MEDIUM", "bearer-token-overwrite", "config.template.toml [[runners]][0].kubernetes.bearer_token_overwrite_allowed = true"),
        ("MEDIUM", "multiple-runners-template", "config.template.toml: 2 [[runners]]"),
        ("MEDIUM", "overwrite-any-other", 'config.template.toml [[runners]][0].kubernetes.node_selector_overwrite_allowed = ".*"'),
        ("MEDIUM", "overwrite-unanchored", 'config.template.toml [[runners]][0].kubernetes.service_account_overwrite_allowed = "ci"'),
    ]
    assert runner_namespaces([runner_cm(template)]) == {"gitlab", "ci-jobs"}


def test_config_maps_that_are_not_runner_configs_are_ignored():
    other = {"metadata": {"name": "app", "namespace": "web"},
             "data": {"config.toml": 'title = "x"\n[server]\nnamespace_overwrite_allowed = ".*"\n'}}
    broken = runner_cm("[[runners]\n")
    assert old(audit(inventory(config_maps=[other, broken]))) == []
    assert runner_namespaces([other]) == set()
    full_config = runner_cm("", config='concurrent = 4\n[[runners]]\n[runners.kubernetes]\n'
                                       'service_account_overwrite_allowed = ".*"\n')
    assert [f.rule for f in old(audit(inventory(config_maps=[full_config])))] == [
        'config.toml [[runners]][0].kubernetes.service_account_overwrite_allowed = ".*"']


# -- output and speed -------------------------------------------------------------------------------------


def scenario() -> Inventory:
    cm = [o for o in fixture_objects("already-overwrite.yaml") if o["kind"] == "ConfigMap"][0]
    return inventory(config_maps=[cm], cluster_role_bindings=[crb("oops", "cluster-admin", sa("gitlab-runner", "default"))],
                     accounts=[("gitlab-runner", "default")])


def test_table_json_and_sarif():
    report = audit(scenario())
    table = audit_report.table(report)
    header, first = table.splitlines()[:2]
    assert header.split() == ["SEVERITY", "CHECK", "SUBJECT", "BINDING", "RULE"]
    assert first.split()[:2] == ["CRITICAL", "default-sa-admin"] and "ClusterRoleBinding/oops" in first
    assert "default-sa-admin (CRITICAL)" in table and "  why: " in table and "  fix: " in table
    assert table.rstrip().endswith("6 findings (1 critical, 2 high, 2 medium, 1 info); audited 1 ClusterRoles, 0 Roles, "
                                   "1 ClusterRoleBindings, 0 RoleBindings, 1 ServiceAccounts, 1 ConfigMaps")
    data = json.loads(json.dumps(audit_report.to_json(report)))
    assert [(f["severity"], f["check"]) for f in data["findings"]] == [
        ("CRITICAL", "default-sa-admin"), ("HIGH", "overwrite-any"), ("HIGH", "overwrite-any"),
        ("MEDIUM", "runner-any-image"), ("MEDIUM", "runner-any-image"), ("INFO", "runner-reach")]
    assert data["findings"][-1]["rule"] == "jobs may run as default in gitlab-runner; default may read secrets in every namespace"
    assert set(data["findings"][0]) >= {"subject", "binding", "role", "rule", "why", "fix", "namespace"}
    sarif = audit_report.to_sarif(report)
    run = sarif["runs"][0]
    assert sarif["version"] == "2.1.0" and {r["id"] for r in run["tool"]["driver"]["rules"]} == set(CHECKS)
    assert [r["ruleId"] for r in run["results"]] == ["default-sa-admin", "overwrite-any", "overwrite-any",
                                                     "runner-any-image", "runner-any-image", "runner-reach"]
    assert [r["level"] for r in run["results"]][-3:] == ["warning", "warning", "note"]
    assert "default may read secrets in every namespace" in run["results"][-1]["message"]["text"]
    assert run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == \
        "cluster/ClusterRoleBinding/oops"
    assert run["results"][1]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == \
        "cluster/ConfigMap/gitlab-runner/gitlab-runner"
    assert audit_report.table(audit(Inventory())).startswith("no findings\n")


def test_ten_thousand_role_bindings_compute_each_role_once(monkeypatch):
    """Roles are indexed once and what a role allows is computed once per (role, scope), not per
    binding (bench/audit.py measures the time; a timed test would only measure the machine)."""
    from runnerkit.diagnose import audit as audit_mod

    computed = []
    real = audit_mod.capabilities
    monkeypatch.setattr(audit_mod, "capabilities", lambda rules, wide: computed.append(1) or real(rules, wide))
    cluster_roles = [cr("cluster-admin", ADMIN_RULES), cr("edit", [rule([""], [f"r{i}"], ["get", "list"]) for i in range(60)]
                                                        + [rule([""], ["serviceaccounts/token"], ["create"])])]
    roles, bindings, accounts = [], [], []
    for i in range(10_000):
        ns = f"ns-{i % 500}"
        if i < 500:
            roles.append(role(ns, "app", [rule([""], [f"x{j}"], ["get"]) for j in range(20)]))
        kind, name = ("Role", "app") if i % 2 else ("ClusterRole", "edit")
        bindings.append(rb(ns, f"b-{i}", kind, name, sa(ns, f"sa-{i}"), sa(ns, "default")))
        accounts.append(sa_obj(ns, f"sa-{i}"))
    inv = Inventory(cluster_roles, roles, [], bindings, accounts, [])
    report = audit(inv)
    assert 0 < len(computed) <= 500 + 1  # one per namespace's Role "app", one for ClusterRole "edit" per scope
    # every ClusterRole "edit" binding hands out token creation to two subjects; default SAs dangle
    assert sum(f.check == "sa-token" for f in report.findings) == 10_000
    assert sum(f.check == "dangling-subject" for f in report.findings) == 10_000
