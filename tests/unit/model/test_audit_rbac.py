"""RBAC matching as the API server does it, label selectors, aggregated ClusterRoles, `VERB RESOURCE`."""

from __future__ import annotations

import pytest

from runnerkit.errors import InputError
from runnerkit.model.rbac import (Access, RoleIndex, merge_rules, parse_access, rule_allows, selector_matches,
                            subject_includes, subject_namespace)


def rule(groups, resources, verbs, names=None):
    out = {"apiGroups": groups, "resources": resources, "verbs": verbs}
    if names:
        out["resourceNames"] = names
    return out


@pytest.mark.parametrize("r,access,allowed", [
    (rule([""], ["pods"], ["get"]), Access("get", "pods"), True),
    (rule([""], ["pods"], ["get"]), Access("list", "pods"), False),
    (rule([""], ["pods"], ["get"]), Access("get", "pods", "apps"), False),
    (rule([""], ["pods"], ["*"]), Access("delete", "pods"), True),
    (rule(["*"], ["deployments"], ["get"]), Access("get", "deployments", "apps"), True),
    # "*" covers subresources; a plain resource does not.
    (rule([""], ["*"], ["create"]), Access("create", "pods/exec"), True),
    (rule([""], ["pods"], ["create"]), Access("create", "pods/exec"), False),
    (rule([""], ["*/exec"], ["create"]), Access("create", "pods/exec"), True),
    (rule([""], ["*/exec"], ["create"]), Access("create", "pods"), False),
    # resourceNames: only requests naming one of them
    (rule([""], ["secrets"], ["get"], ["a"]), Access("get", "secrets", name="a"), True),
    (rule([""], ["secrets"], ["get"], ["a"]), Access("get", "secrets", name="b"), False),
    (rule([""], ["secrets"], ["list"], ["a"]), Access("list", "secrets"), False),
    ({"nonResourceURLs": ["*"], "verbs": ["*"]}, Access("get", "pods"), False),
])
def test_rule_allows(r, access, allowed):
    assert rule_allows(r, access) is allowed


def test_any_name_counts_rules_limited_by_resource_names():
    r = rule([""], ["serviceaccounts/token"], ["create"], ["builder"])
    assert not rule_allows(r, Access("create", "serviceaccounts/token"))
    assert rule_allows(r, Access("create", "serviceaccounts/token"), any_name=True)


@pytest.mark.parametrize("text,access", [
    ("list secrets", Access("list", "secrets")),
    ("create deployments", Access("create", "deployments", "apps")),
    ("create deployments.apps", Access("create", "deployments", "apps")),
    ("create pods/exec", Access("create", "pods/exec")),
    ("get deployments.apps/scale", Access("get", "deployments/scale", "apps")),
    ("GET Pods", Access("get", "pods")),
    ("list widgets.example.com", Access("list", "widgets", "example.com")),
])
def test_parse_access(text, access):
    assert parse_access(text) == access


@pytest.mark.parametrize("text", ["list", "list secrets now", "frobnicate pods", "get /x"])
def test_parse_access_rejects(text):
    with pytest.raises(InputError, match="--need"):
        parse_access(text)


def test_access_text_and_scope():
    assert Access("create", "deployments/scale", "apps").text() == "create deployments.apps/scale"
    assert Access("get", "nodes").cluster_scoped and not Access("get", "pods").cluster_scoped


def test_merge_rules_groups_resources_with_the_same_verbs():
    rules = merge_rules([Access("get", "pods"), Access("list", "pods"), Access("get", "services"),
                         Access("list", "services"), Access("create", "deployments", "apps")])
    assert rules == [rule([""], ["pods", "services"], ["get", "list"]),
                     rule(["apps"], ["deployments"], ["create"])]


@pytest.mark.parametrize("selector,labels,matches", [
    ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
    ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
    ({}, {}, True),
    (None, {"a": "1"}, False),
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]}, {"a": "2"}, True),
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1"]}]}, {}, False),
    ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
    ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {"a": "1"}, False),
    ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": ""}, True),
    ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": ""}, False),
])
def test_selector_matches(selector, labels, matches):
    assert selector_matches(selector, labels) is matches


def cluster_role(name, rules=(), labels=None, selectors=None):
    meta = {"name": name, "labels": labels or {}}
    out = {"metadata": meta, "rules": list(rules)}
    if selectors is not None:
        out["aggregationRule"] = {"clusterRoleSelectors": selectors}
        out["rules"] = []  # as stored before the controller fills it in
    return out


def test_aggregated_cluster_roles_are_resolved_transitively_and_cycles_end():
    index = RoleIndex([
        cluster_role("top", selectors=[{"matchLabels": {"to-top": "true"}}]),
        cluster_role("middle", labels={"to-top": "true"}, selectors=[{"matchLabels": {"to-middle": "true"}}]),
        cluster_role("leaf", [rule([""], ["pods"], ["get"])], labels={"to-middle": "true"}),
        cluster_role("direct", [rule([""], ["secrets"], ["list"])], labels={"to-top": "true"}),
        cluster_role("loop", labels={"to-top": "true"}, selectors=[{"matchLabels": {"to-top": "true"}}]),
    ], [])
    top = index.rules("ClusterRole", "top")
    assert rule([""], ["pods"], ["get"]) in top and rule([""], ["secrets"], ["list"]) in top
    assert index.rules("ClusterRole", "middle") == [rule([""], ["pods"], ["get"])]
    assert index.rules("ClusterRole", "nope") is None


def test_roles_are_found_by_namespace_and_name():
    roles = [{"metadata": {"name": "r", "namespace": "a"}, "rules": [rule([""], ["pods"], ["get"])]},
             {"metadata": {"name": "r", "namespace": "b"}, "rules": [rule([""], ["secrets"], ["get"])]}]
    index = RoleIndex([], roles)
    assert index.rules("Role", "r", "b") == [rule([""], ["secrets"], ["get"])]
    assert index.rules("Role", "r", "c") is None


def test_subjects():
    sa = {"kind": "ServiceAccount", "name": "ci", "namespace": "web"}
    assert subject_namespace(sa) == "web"
    assert subject_namespace({"kind": "Group", "name": "system:serviceaccounts:web"}) == "web"
    assert subject_namespace({"kind": "User", "name": "alice"}) is None
    assert subject_includes(sa, "web", "ci") and not subject_includes(sa, "web", "other")
    assert subject_includes({"kind": "User", "name": "system:serviceaccount:web:ci"}, "web", "ci")
    assert subject_includes({"kind": "Group", "name": "system:serviceaccounts:web"}, "web", "ci")
    assert not subject_includes({"kind": "Group", "name": "system:serviceaccounts:api"}, "web", "ci")


def test_granted_rules_leave_out_what_every_authenticated_user_may_do():
    from runnerkit.model.rbac import granted_rules

    basic = [{"verbs": ["create"], "apiGroups": ["authorization.k8s.io"],
              "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]},
             {"verbs": ["get", "list"], "apiGroups": ["certificates.k8s.io"], "resources": ["clustertrustbundles"]}]
    pods = {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}
    assert granted_rules({"resourceRules": basic}) == []
    assert granted_rules({"resourceRules": basic + [pods]}) == [pods]
    assert granted_rules({}) == []
