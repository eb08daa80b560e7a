"""Audit findings for a GitLab Runner's own settings (privileged, images, pull policies, pod
overwrites in one namespace, namespace_per_job, helper_image) and the reach line per runner, on
the real gitlab-runner chart fixtures edited the way a team would."""

from __future__ import annotations

import json

from unit.diagnose.test_audit import cr, fixture_objects, inventory, rb, role, sa
from runnerkit.diagnose import audit_report
from runnerkit.diagnose.audit import CHECKS, audit


def runner_cm(fixture: str = "custom-config.yaml", edit=None) -> dict:
    cm = next(o for o in fixture_objects(fixture) if o["kind"] == "ConfigMap")
    if edit:
        cm["data"]["config.template.toml"] = edit(cm["data"]["config.template.toml"])
    return cm


def new_findings(report) -> list[tuple[str, str, str]]:
    return [(f.severity, f.check, f.rule) for f in report.findings
            if f.check in {"runner-privileged", "runner-any-image", "runner-pull-policy",
                           "pod-overwrite-one-namespace", "namespace-per-job", "helper-image-override"}]


WHERE = "config.template.toml [[runners]][0].kubernetes"


def test_privileged_and_empty_allowed_images_on_the_chart_fixture_are_reported_with_fixes():
    cm = runner_cm(edit=lambda t: t.replace("privileged = false", "privileged = true"))
    report = audit(inventory(config_maps=[cm]))
    assert new_findings(report) == [
        ("HIGH", "runner-privileged", f"{WHERE}.privileged = true"),
        ("INFO", "runner-any-image", f"{WHERE}.allowed_images is empty"),
        ("INFO", "runner-any-image", f"{WHERE}.allowed_services is empty"),
    ]
    privileged = next(f for f in report.findings if f.check == "runner-privileged")
    assert "privileged = false" in privileged.fix and privileged.subject == "ConfigMap gitlab/ci-gitlab-runner"
    table = audit_report.table(report)
    assert "runner-privileged (HIGH)" in table and "allowed_images = [" in table
    sarif = audit_report.to_sarif(report)
    assert "runner-privileged" in [r["ruleId"] for r in sarif["runs"][0]["results"]]
    assert json.dumps(audit_report.to_json(report))  # serialisable


def test_a_shared_runner_without_image_lists_is_medium_and_the_other_settings_are_named():
    def edit(t: str) -> str:
        return t.replace('namespace = "gitlab"', 'namespace = "gitlab"\n        '
                         'namespace_overwrite_allowed = "^(?:web|api)$"\n        '
                         'allowed_images = ["registry.example.com/ci/*"]\n        '
                         'allowed_pull_policies = ["always", "if-not-present"]\n        '
                         'helper_image = "registry.example.com/helper:latest"')
    report = audit(inventory(config_maps=[runner_cm(edit=edit)]))
    assert new_findings(report) == [
        ("MEDIUM", "helper-image-override", f'{WHERE}.helper_image = "registry.example.com/helper:latest"'),
        ("MEDIUM", "runner-any-image", f"{WHERE}.allowed_services is empty"),
        ("MEDIUM", "runner-pull-policy", f"{WHERE}.allowed_pull_policies = ['always', 'if-not-present']"),
    ]
    pinned = audit(inventory(config_maps=[runner_cm(edit=lambda t: t.replace(
        'namespace = "gitlab"', 'namespace = "gitlab"\n        helper_image = "r.example.com/h@sha256:' + "a" * 64 + '"'))]))
    assert "helper-image-override" not in {f.check for f in pinned.findings}


def test_pod_overwrites_without_namespace_overwrite_and_namespace_per_job():
    def edit(t: str) -> str:
        return t.replace('namespace = "gitlab"', 'namespace = "gitlab"\n        namespace_per_job = true\n        '
                         'service_account_overwrite_allowed = "^ci-.*$"\n        '
                         'pod_labels_overwrite_allowed = "^team$"')
    checks = {(f.severity, f.check, f.rule) for f in audit(inventory(config_maps=[runner_cm(edit=edit)])).findings}
    assert ("HIGH", "namespace-per-job", f"{WHERE}.namespace_per_job = true") in checks
    assert ("MEDIUM", "pod-overwrite-one-namespace",
            f'{WHERE}.service_account_overwrite_allowed = "^ci-.*$" without namespace_overwrite_allowed') in checks
    assert ("MEDIUM", "pod-overwrite-one-namespace",
            f'{WHERE}.pod_labels_overwrite_allowed = "^team$" without namespace_overwrite_allowed') in checks
    assert all(CHECKS[c].severity for _, c, _ in checks)


def test_reach_line_from_regexes_and_listed_rbac():
    def edit(t: str) -> str:
        return t.replace('namespace = "gitlab"', 'namespace = "gitlab"\n        '
                         'namespace_overwrite_allowed = "^(?:web|api)$"\n        '
                         'service_account_overwrite_allowed = "^(?:web|api)-ci$"')
    secrets = [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]
    pods = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]
    inv = inventory(config_maps=[runner_cm(edit=edit)],
                    accounts=[("web", "web-ci"), ("api", "api-ci"), ("web", "deployer"), ("prod", "prod-ci"),
                              ("gitlab", "default")],
                    roles=[role("web", "reader", secrets), role("api", "pods", pods)],
                    role_bindings=[rb("web", "r", "Role", "reader", sa("web", "web-ci")),
                                   rb("api", "p", "Role", "pods", sa("api", "api-ci"))],
                    cluster_roles=[cr("cluster-admin", [])])
    (line,) = [f for f in audit(inv).findings if f.check == "runner-reach"]
    assert line.severity == "INFO" and line.subject == "ConfigMap gitlab/ci-gitlab-runner runner [[runners]][0]"
    # prod is not matched by the namespace regex, deployer not by the ServiceAccount regex.
    assert line.rule == ("jobs may run as api-ci in api; default in gitlab; web-ci in web; "
                         "web-ci may read secrets in web")
