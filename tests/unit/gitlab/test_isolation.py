"""Isolation on shared runners: the rendered ValidatingAdmissionPolicy, schema-valid and evaluated in CEL."""

from __future__ import annotations

import celpy
import kubernetes_validate
import pytest
from celpy import celtypes

from runnerkit.model import validate
from runnerkit.cli.common import example_text
from runnerkit.gitlab.isolation import (ID_LABEL, NAMESPACE_LABEL, POLICY_KINDS, ROOT_NAMESPACE_LABEL,
                                        isolation_gap, require_isolation, policy_name,
                                        sanitize_label)
from runnerkit.desired import render
from runnerkit.errors import IsolationUnavailable

MANAGER = "system:serviceaccount:gitlab-runner:gitlab-runner"
SPEC = validate.loads("""apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata: {name: iso}
runners:
  - {name: shared, type: gitlab, namespace: gitlab-runner}
  - {name: arc, type: github, namespace: arc}
defaults: {runner: shared}
projects:
  - name: web-app
    gitlab: {projectIds: [4211]}
  - name: cicd
    gitlab: {projectIds: [4212, 4213], groups: [platform, tools/build_infra]}
  - name: open
  - name: mobile
    runner: arc
""")


def policies(spec=SPEC) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in render(spec) if o["kind"] == "ValidatingAdmissionPolicy"}


def pod(labels: dict | None) -> dict:
    meta = {"name": "runner-abc-project-1-concurrent-0", "generateName": "runner-abc-"}
    if labels is not None:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {"containers": [{"name": "build"}]}}


def job_labels(project_id: str, namespace_path: str) -> dict:
    """The labels gitlab-runner's buildLabels puts on a job pod."""
    return {ID_LABEL: project_id, NAMESPACE_LABEL: sanitize_label(namespace_path),
            ROOT_NAMESPACE_LABEL: sanitize_label(namespace_path.split("/")[0]),
            "job.runner.gitlab.com/pod": "runner-abc-project-1-concurrent-0"}


def evaluate(expression: str, activation: dict):
    env = celpy.Environment()
    return env.program(env.compile(expression)).evaluate(activation)


def admit(policy: dict, obj: dict, username: str, namespace_labels: dict) -> tuple[bool, str]:
    """What the API server does with one policy: match, conditions, variables, validations."""
    spec = policy["spec"]
    selector = spec["matchConstraints"]["namespaceSelector"]["matchLabels"]
    if any(namespace_labels.get(k) != v for k, v in selector.items()):
        return True, "namespace not selected"
    activation = {"object": celpy.json_to_cel(obj),
                  "request": celpy.json_to_cel({"userInfo": {"username": username}, "operation": "CREATE"})}
    for condition in spec["matchConditions"]:
        if not evaluate(condition["expression"], activation):
            return True, "condition not met"
    variables = {}
    for var in spec["variables"]:
        activation["variables"] = celtypes.MapType(variables)
        variables[celtypes.StringType(var["name"])] = evaluate(var["expression"], activation)
    activation["variables"] = celtypes.MapType(variables)
    for validation in spec["validations"]:
        if not evaluate(validation["expression"], activation):
            return False, str(evaluate(validation["messageExpression"], activation))
    return True, "valid"


NS = {"web-app": {"kubernetes.io/metadata.name": "web-app"}, "cicd": {"kubernetes.io/metadata.name": "cicd"}}


def test_one_policy_and_binding_per_project_that_declares_gitlab_ids_or_groups():
    objects = [o for o in render(SPEC) if o["kind"] in POLICY_KINDS]
    names = sorted((o["kind"], o["metadata"]["name"]) for o in objects)
    assert names == [("ValidatingAdmissionPolicy", "runnerkit-iso-cicd-gitlab-isolation"),
                     ("ValidatingAdmissionPolicy", "runnerkit-iso-web-app-gitlab-isolation"),
                     ("ValidatingAdmissionPolicyBinding", "runnerkit-iso-cicd-gitlab-isolation"),
                     ("ValidatingAdmissionPolicyBinding", "runnerkit-iso-web-app-gitlab-isolation")]
    binding = next(o for o in objects if o["kind"] == "ValidatingAdmissionPolicyBinding"
                   and o["metadata"]["name"] == "runnerkit-iso-web-app-gitlab-isolation")
    assert binding["spec"] == {"policyName": "runnerkit-iso-web-app-gitlab-isolation", "validationActions": ["Deny"]}
    assert binding["metadata"]["labels"]["runnerkit.io/spec"] == "iso"


@pytest.mark.parametrize("version", ["1.30.0", "1.31.0", "1.33.0"])
def test_rendered_policies_pass_the_kubernetes_schema_strictly(version):
    for obj in render(SPEC):
        if obj["kind"] in POLICY_KINDS:
            kubernetes_validate.validate(obj, version, strict=True)


def test_policy_matches_pod_creation_by_the_manager_in_the_tenant_namespace_only():
    spec = policies()["runnerkit-iso-web-app-gitlab-isolation"]["spec"]
    assert spec["failurePolicy"] == "Fail"
    assert spec["matchConstraints"]["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "web-app"}}
    assert spec["matchConstraints"]["resourceRules"] == [
        {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["pods"]}]
    assert spec["matchConditions"][0]["expression"] == f"request.userInfo.username == '{MANAGER}'"


def test_own_project_is_allowed():
    policy = policies()["runnerkit-iso-web-app-gitlab-isolation"]
    assert admit(policy, pod(job_labels("4211", "platform/web")), MANAGER, NS["web-app"]) == (True, "valid")


def test_foreign_project_is_denied_with_a_message_naming_both():
    policy = policies()["runnerkit-iso-web-app-gitlab-isolation"]
    allowed, message = admit(policy, pod(job_labels("4212", "platform/cicd")), MANAGER, NS["web-app"])
    assert not allowed
    assert message == ("runnerkit: namespace web-app takes GitLab Runner jobs only from project 4211; "
                       "this pod comes from project 4212 (platform_cicd)")


@pytest.mark.parametrize("labels", [None, {}, {"app": "x"}, {ID_LABEL: ""}, {ID_LABEL: "42110"},
                                    {ID_LABEL: "421"}, {ID_LABEL: " 4211"}])
def test_missing_or_look_alike_project_labels_are_denied(labels):
    policy = policies()["runnerkit-iso-web-app-gitlab-isolation"]
    allowed, message = admit(policy, pod(labels), MANAGER, NS["web-app"])
    assert not allowed
    if not labels or ID_LABEL not in labels or not labels[ID_LABEL]:
        assert message.endswith(f"this pod comes from project (no {ID_LABEL} label)")


def test_pods_created_by_anyone_else_are_not_judged():
    policy = policies()["runnerkit-iso-web-app-gitlab-isolation"]
    for user in ("system:serviceaccount:web-app:web-app-ci", "system:serviceaccount:kube-system:replicaset-controller",
                 "system:serviceaccount:gitlab-runner:gitlab-runner-2", "admin"):
        assert admit(policy, pod(None), user, NS["web-app"]) == (True, "condition not met")


def test_other_namespaces_are_not_selected():
    policy = policies()["runnerkit-iso-web-app-gitlab-isolation"]
    assert admit(policy, pod(None), MANAGER, NS["cicd"]) == (True, "namespace not selected")


@pytest.mark.parametrize("project_id, path, allowed", [
    ("4212", "anything/else", True),            # listed project id
    ("4213", "x", True),
    ("9", "platform", True),                    # top-level group
    ("9", "platform/deep/sub", True),           # anything under it
    ("9", "tools/build_infra", True),           # the listed subgroup itself
    ("9", "tools/build_infra/deeper", False),   # not its subgroups: list them
    ("9", "tools", False),                      # nor its parent
    ("9", "tools_build/infra", False),          # look-alike: labels as tools_build_infra too
    ("9", "platformx", False),
    ("9", "other/platform", False),
    ("4211", "web", False),                     # web-app's project
])
def test_group_rules(project_id, path, allowed):
    policy = policies()["runnerkit-iso-cicd-gitlab-isolation"]
    assert admit(policy, pod(job_labels(project_id, path)), MANAGER, NS["cicd"])[0] is allowed


def test_sanitize_label_mirrors_gitlab_runner():
    assert sanitize_label("platform/backend") == "platform_backend"
    assert sanitize_label("-a.b_") == "a.b"
    assert sanitize_label("Grp/Sub Group") == "Grp_Sub_Group"
    long = "a" * 62 + "/b"
    assert sanitize_label(long) == "a" * 62 and len(sanitize_label("x" * 80)) == 63


def test_example_spec_renders_isolation_for_its_gitlab_projects():
    example = validate.loads(example_text())
    assert sorted(policies(example)) == ["runnerkit-platform-ci-cicd-gitlab-isolation", "runnerkit-platform-ci-web-app-gitlab-isolation"]
    assert policy_name(example.name, example.project("web-app")) == "runnerkit-platform-ci-web-app-gitlab-isolation"


# -- is it enforced? ---------------------------------------------------------------------------

def test_gap_is_reported_when_the_server_lacks_the_api():
    objects = render(SPEC)
    unserved = {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}  # Kubernetes < 1.30
    gap = require_isolation(objects, unserved, require=False)
    assert "does not serve ValidatingAdmissionPolicy" in gap
    assert "NOT enforced for cicd, web-app" in gap
    assert "KUBERNETES_NAMESPACE_OVERWRITE" in gap
    with pytest.raises(IsolationUnavailable) as e:
        require_isolation(objects, unserved, require=True)
    assert e.value.exit_code == 1 and "nothing was changed" in str(e.value)


def test_no_gap_when_served_or_not_asked_for():
    assert require_isolation(render(SPEC), set(), require=True) is None
    no_isolation = validate.loads(example_text().replace("projectIds: [4211]", "project: platform/web")
                                  .replace("projectIds: [4212, 4213]", "tags: [k8s]"))
    assert require_isolation(render(no_isolation), {"ValidatingAdmissionPolicy"}, require=True) is None


def test_isolation_gap_from_what_apply_skipped():
    objects = render(SPEC)
    assert isolation_gap(objects, {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"})
    assert isolation_gap(objects, set()) is None
    assert isolation_gap(objects, {"ResourceQuota"}) is None


# CEL's reserved words (cel-spec, langdef.md "Syntax"): a real API server refuses them as variable
# names ("must be a valid CEL identifier") although cel-python accepts them.
CEL_RESERVED = {"false", "in", "null", "true", "as", "break", "const", "continue", "else", "for",
                "function", "if", "import", "let", "loop", "package", "namespace", "return", "var",
                "void", "while"}


def test_no_cel_identifier_runnerkit_emits_is_a_reserved_word():
    import re

    for policy in policies().values():
        names = [v["name"] for v in policy["spec"]["variables"]]
        assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n) for n in names), names
        assert not set(names) & CEL_RESERVED, names
        expressions = [c["expression"] for c in policy["spec"]["matchConditions"]]
        expressions += [v["expression"] for v in policy["spec"]["variables"]]
        expressions += [x for v in policy["spec"]["validations"] for x in (v["expression"], v["messageExpression"])]
        for expression in expressions:
            code = re.sub(r"'[^']*'", "''", expression)  # identifiers outside string literals
            selected = set(re.findall(r"\.([A-Za-z_][A-Za-z0-9_]*)", code))
            assert not selected & CEL_RESERVED, (expression, selected & CEL_RESERVED)
