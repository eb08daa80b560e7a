"""Live mode and manager RBAC against the real kube-apiserver (the chart's objects, no kubelet)."""

from __future__ import annotations

import json
import tomllib

import pytest
import yaml

from conftest import FIXTURES, eventually, run_cli
from runnerkit.model import validate
from runnerkit.cluster import apply
from runnerkit.model import spec as spec_mod
from runnerkit.errors import Conflict
from runnerkit.gitlab import configmap
from runnerkit.gitlab.isolation import isolation_gap
from runnerkit.gitlab.template import NAMESPACE_KEY, SERVICE_ACCOUNT_KEY, TEMPLATE_KEY, wanted_for
from runnerkit.model.kinds import RBAC, Kind
from runnerkit.desired import render

CHART = FIXTURES / "gitlab-runner"
CHART_KINDS = {k.kind: k for k in (
    Kind("ServiceAccount", "v1", "serviceaccounts", True, 0), Kind("Secret", "v1", "secrets", True, 0),
    Kind("ConfigMap", "v1", "configmaps", True, 0), Kind("Role", RBAC, "roles", True, 0),
    Kind("RoleBinding", RBAC, "rolebindings", True, 0), Kind("Deployment", "apps/v1", "deployments", True, 0))}
RELEASES = {"default.yaml": "gitlab-runner", "custom-config.yaml": "ci", "already-overwrite.yaml": "gitlab-runner",
            "no-template.yaml": "gitlab-runner"}


def spec_for(u: str, runner_ns: str, release: str) -> spec_mod.Spec:
    return validate.loads(f"""apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata: {{name: gl-{u}}}
runners:
  - {{name: shared, type: gitlab, namespace: {runner_ns}, release: {release}}}
defaults: {{runner: shared, namespace: "{{project}}-{u}"}}
projects:
  - {{name: web-app, gitlab: {{projectIds: [4211]}}}}
  - {{name: cicd}}
""", f"gl-{u}.yaml")


def load_chart(kube, fixture: str, ns: str) -> dict[str, dict]:
    """Create the chart's rendered objects in `ns`; returns them by kind."""
    created = {}
    for doc in yaml.safe_load_all((CHART / fixture).read_text()):
        if not doc:
            continue
        doc["metadata"]["namespace"] = ns
        for subject in doc.get("subjects") or []:
            subject["namespace"] = ns
        kind = CHART_KINDS[doc["kind"]]
        created[doc["kind"]] = kube.request("POST", kind.collection_path(ns), body=doc)
    return created


def live(kube, ns: str, name: str) -> tuple[dict, dict]:
    cm = kube.get(configmap.CONFIG_MAP, name, ns)
    deployment = kube.get(configmap.DEPLOYMENT, name, ns)
    return cm, deployment


def restarted_at(deployment: dict) -> str | None:
    return (deployment["spec"]["template"]["metadata"].get("annotations") or {}).get(configmap.RESTARTED_AT)


def write_spec(tmp_path, spec: spec_mod.Spec, u: str, runner_ns: str) -> str:
    path = tmp_path / f"gl-{u}.yaml"
    runner = spec.runners["shared"]
    path.write_text(f"""apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata: {{name: gl-{u}}}
runners:
  - {{name: shared, type: gitlab, namespace: {runner_ns}, release: {runner.release}}}
defaults: {{runner: shared, namespace: "{{project}}-{u}"}}
projects:
  - {{name: web-app, gitlab: {{projectIds: [4211]}}}}
  - {{name: cicd}}
""")
    return str(path)


@pytest.mark.parametrize("fixture", sorted(RELEASES))
def test_configure_restart_idempotence_and_rollback(kube, kubeconfig, make_namespace, unique, tmp_path, fixture):
    ns = make_namespace(f"gitlab-runner-{unique}")
    load_chart(kube, fixture, ns)
    spec = spec_for(unique, ns, RELEASES[fixture])
    runner = spec.runners["shared"]
    spec_file = write_spec(tmp_path, spec, unique, ns)
    original_cm, original_deploy = live(kube, ns, runner.config_map)
    original = original_cm["data"].get(TEMPLATE_KEY)
    assert restarted_at(original_deploy) is None

    run = run_cli("gitlab", "configure-runner", spec_file, "--kubeconfig", kubeconfig)
    assert run.code == 0, run
    cm, deploy = live(kube, ns, runner.config_map)
    template = tomllib.loads(cm["data"][TEMPLATE_KEY])
    assert len(template["runners"]) == 1
    kube_table = template["runners"][0]["kubernetes"]
    assert kube_table[NAMESPACE_KEY] == f"^(?:cicd-{unique}|web-app-{unique})$"
    assert kube_table[SERVICE_ACCOUNT_KEY] == "^(?:cicd-ci|web-app-ci)$"
    backup = json.loads(cm["metadata"]["annotations"][configmap.BACKUP_ANNOTATION])
    assert backup == {"present": original is not None, "content": original or "",
                      "wrote": configmap.digest(cm["data"][TEMPLATE_KEY])}
    assert restarted_at(deploy)  # like `kubectl rollout restart`
    assert deploy["metadata"]["generation"] == original_deploy["metadata"]["generation"] + 1
    assert {k: v for k, v in cm["data"].items() if k != TEMPLATE_KEY} == \
           {k: v for k, v in original_cm["data"].items() if k != TEMPLATE_KEY}
    assert "next `helm upgrade` re-renders this ConfigMap" in run.out and "runners:\n  config: |\n" in run.out
    if fixture == "no-template.yaml":
        assert "register-the-runner has no --template-config line" in run.err
        assert "sets KUBERNETES_NAMESPACE=gitlab-runner, which overrides the template's namespace" in run.err
        assert "created a minimal one" in run.out
    else:
        assert "KUBERNETES_" not in run.err

    # a second run: reads only, no write, no restart
    start = len(kube.requests)
    out = configmap.configure(kube, runner, wanted_for(spec, runner))
    assert not out.changed and not out.written and out.restarted is None
    assert {m for m, _ in kube.requests[start:]} == {"GET"}
    again = run_cli("gitlab", "configure-runner", spec_file, "--kubeconfig", kubeconfig)
    assert again.code == 0 and "already configured" in again.out
    cm2, deploy2 = live(kube, ns, runner.config_map)
    assert cm2["metadata"]["resourceVersion"] == cm["metadata"]["resourceVersion"]
    assert restarted_at(deploy2) == restarted_at(deploy)

    # rollback restores the byte-identical original, drops the backup and restarts the runner
    start = len(kube.requests)
    back = configmap.rollback(kube, runner)
    assert back.written and back.restarted == f"deployment.apps/{runner.deployment} -n {ns}"
    assert [m for m, _ in kube.requests[start:]] == ["GET", "PUT", "GET", "PATCH"]
    cm3, _ = live(kube, ns, runner.config_map)
    assert cm3["data"].get(TEMPLATE_KEY) == original
    assert (TEMPLATE_KEY in cm3["data"]) is (original is not None)
    assert configmap.BACKUP_ANNOTATION not in (cm3["metadata"].get("annotations") or {})
    nothing = run_cli("gitlab", "rollback", spec_file, "--kubeconfig", kubeconfig)
    assert nothing.code == 2 and "nothing to roll back" in nothing.err


def test_concurrent_edit_is_detected_and_never_overwritten(kube, make_namespace, unique, monkeypatch):
    ns = make_namespace(f"gitlab-runner-{unique}")
    load_chart(kube, "already-overwrite.yaml", ns)
    spec = spec_for(unique, ns, "gitlab-runner")
    runner = spec.runners["shared"]
    theirs = "[[runners]]\n  [runners.kubernetes]\n    namespace_overwrite_allowed = \"someone-else\"\n"
    real_replace = kube.replace

    def someone_edits_first(kind, obj, **kw):
        # between our read and our write, another client changes the ConfigMap
        kube.patch(configmap.CONFIG_MAP, obj["metadata"]["name"], ns, {"data": {TEMPLATE_KEY: theirs}},
                   patch_type="merge")
        return real_replace(kind, obj, **kw)

    monkeypatch.setattr(kube, "replace", someone_edits_first)
    with pytest.raises(Conflict) as e:
        configmap.configure(kube, runner, wanted_for(spec, runner))
    assert "changed since runnerkit read it" in str(e.value) and "nothing was overwritten" in str(e.value)
    assert e.value.exit_code == 3
    cm, deploy = live(kube, ns, runner.config_map)
    assert cm["data"][TEMPLATE_KEY] == theirs
    assert configmap.BACKUP_ANNOTATION not in (cm["metadata"].get("annotations") or {})
    assert restarted_at(deploy) is None


def test_dry_run_and_no_restart(kube, kubeconfig, make_namespace, unique, tmp_path):
    ns = make_namespace(f"gitlab-runner-{unique}")
    load_chart(kube, "custom-config.yaml", ns)
    spec = spec_for(unique, ns, "ci")
    spec_file = write_spec(tmp_path, spec, unique, ns)
    before, _ = live(kube, ns, "ci-gitlab-runner")
    run = run_cli("gitlab", "configure-runner", spec_file, "--kubeconfig", kubeconfig, "--dry-run")
    assert run.code == 0, run
    assert f'+    namespace_overwrite_allowed = "^(?:cicd-{unique}|web-app-{unique})$"' in run.out
    assert live(kube, ns, "ci-gitlab-runner")[0]["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    run = run_cli("gitlab", "configure-runner", spec_file, "--kubeconfig", kubeconfig, "--no-restart", "-o", "json")
    assert run.code == 0, run
    report = json.loads(run.out)
    assert report["written"] is True and report["restarted"] is None
    assert restarted_at(live(kube, ns, "ci-gitlab-runner")[1]) is None
    run = run_cli("gitlab", "rollback", spec_file, "--kubeconfig", kubeconfig, "--dry-run")
    assert run.code == 0 and f'-    namespace_overwrite_allowed = "^(?:cicd-{unique}|web-app-{unique})$"' in run.out
    run = run_cli("gitlab", "rollback", spec_file, "--kubeconfig", kubeconfig, "--no-restart")
    assert run.code == 0, run
    assert "config.template.toml restored" in run.out
    after, deploy = live(kube, ns, "ci-gitlab-runner")
    assert after["data"][TEMPLATE_KEY] == before["data"][TEMPLATE_KEY]
    assert restarted_at(deploy) is None


def test_missing_configmap_is_a_clear_error(kubeconfig, make_namespace, unique, tmp_path):
    ns = make_namespace(f"gitlab-runner-{unique}")
    spec_file = write_spec(tmp_path, spec_for(unique, ns, "gitlab-runner"), unique, ns)
    run = run_cli("gitlab", "configure-runner", spec_file, "--kubeconfig", kubeconfig)
    assert run.code == 2
    assert f"configmap/gitlab-runner -n {ns} not found" in run.err and "--configmap" in run.err


def test_manager_rbac_allows_pods_and_secrets_in_project_namespaces_only(kube, make_namespace, unique):
    runner_ns = f"gitlab-runner-{unique}"
    target = make_namespace(f"app-prod-{unique}")
    other = make_namespace(f"unrelated-{unique}")
    spec = validate.loads(f"""apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata: {{name: glrbac-{unique}}}
runners:
  - {{name: shared, type: gitlab, namespace: {runner_ns}}}
  - {{name: arc, type: github, namespace: arc-{unique}}}
defaults: {{runner: shared, namespace: "{{project}}-{unique}"}}
projects:
  - name: web
    gitlab: {{projectIds: [4211]}}
    access: [{{preset: helm-deployer, namespaces: [{target}]}}]
  - {{name: builds}}
  - {{name: mobile, runner: arc}}
""")
    objects = render(spec)
    try:
        result = apply.apply(kube, objects, spec.name)
        manager = f"system:serviceaccount:{runner_ns}:gitlab-runner"
        for ns in (f"web-{unique}", f"builds-{unique}"):
            for verb, resource in (("create", "pods"), ("create", "secrets"), ("delete", "pods"),
                                   ("create", "pods/exec"), ("get", "pods/log")):
                assert eventually(lambda: kube.can(manager, verb, resource, ns)), (verb, resource, ns)
            assert not kube.can(manager, "create", "deployments", ns, group="apps")
            assert not kube.can(manager, "list", "secrets", ns)
        for ns in (target, other, f"mobile-{unique}", runner_ns, "default", "kube-system", None):
            assert not kube.can(manager, "create", "pods", ns), ns
            assert not kube.can(manager, "create", "secrets", ns), ns
        # the project's own ServiceAccount is not the manager: no pod creation in its own namespace
        assert not kube.can(f"system:serviceaccount:web-{unique}:web-ci", "create", "pods/exec", f"web-{unique}")
        # the server serves ValidatingAdmissionPolicy: written (first), no gap reported
        assert not any("does not serve" in n for n in result.notes)
        assert isolation_gap(objects, set()) is None
        written = [c.obj["kind"] for c in result.changes if c.obj["kind"].startswith("ValidatingAdmissionPolicy")]
        assert written == ["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"]
    finally:
        apply.delete(kube, spec.name, namespaces=True)
