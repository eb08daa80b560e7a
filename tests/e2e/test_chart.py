"""charts/runnerkit-tenants on the real e2e API server, with Helm 3 and Helm 4.

- `helm install` creates every object `runnerkit render` declares, with the same content; the
  isolation policy and its binding are pre-install hooks (written and accepted before any grant);
- `helm uninstall` keeps the namespaces by default and deletes them when keepNamespaces=false;
- the Argo CD way (`helm template` applied by a GitOps tool, here `kubectl apply --server-side`)
  leaves the cluster exactly as `runnerkit apply` would: `runnerkit diff` finds nothing to change.
"""

from __future__ import annotations

import subprocess
import time
from types import SimpleNamespace

import pytest

from runnerkit.model import validate
from runnerkit.model import helmvalues
from runnerkit.model.kinds import BY_KIND
from runnerkit.desired import render
from runnerkit.model.objects import MANAGED_BY
from unit.model.test_chart import CHART, POLICY_APIS, Helm, tool

POLICY_KINDS = {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}


def e2e_spec(u: str) -> str:
    return f"""apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata: {{name: chart-{u}}}
runners:
  - {{name: gl, type: gitlab, namespace: gitlab-runner-{u}}}
  - {{name: gh, type: github, namespace: arc-{u}}}
defaults:
  runner: gl
  namespaceLabels: {{pod-security.kubernetes.io/enforce: baseline}}
projects:
  - name: web-{u}
    gitlab: {{projectIds: [4211], tags: [k8s]}}
    serviceAccountAnnotations: {{eks.amazonaws.com/role-arn: "arn:aws:iam::123456789012:role/web"}}
    imagePullSecrets: [regcred]
    resourceQuota: {{hard: {{pods: "10", requests.memory: 2Gi}}}}
    limitRange: {{limits: [{{type: Container, default: {{cpu: 500m}}}}]}}
    access:
      - {{preset: helm-deployer, namespaces: [prod-{u}]}}
      - preset: viewer
      - {{name: nodes, clusterWide: true, rules: [{{apiGroups: [""], resources: [nodes], verbs: [get]}}]}}
  - name: app-{u}
    runner: gh
    automountServiceAccountToken: false
    access: [{{preset: arc-kube-mode}}]
"""


@pytest.fixture(params=("v32", "v37"))
def tenants(request, kube, kubeconfig, unique, make_namespace, tmp_path):
    helm = Helm(request.param)
    u = f"{unique}{request.param[1:]}"
    make_namespace(f"prod-{u}")  # a grant's target namespace must exist already
    release = make_namespace(f"rel-{u}")  # where Helm keeps its release record
    text = e2e_spec(u)
    spec_file = tmp_path / "runnerkit.yaml"
    spec_file.write_text(text)
    values = tmp_path / "values.yaml"
    values.write_text(helmvalues.to_yaml(helmvalues.loads(text)))
    loaded = validate.loads(text)
    t = SimpleNamespace(helm=helm, u=u, release=release, spec=loaded, spec_file=spec_file, values=values,
                        kubeconfig=kubeconfig, objects=render(loaded))

    def helm_run(*args, check=True):
        return helm.run(*args, "--kubeconfig", kubeconfig, "-n", release, check=check)

    t.helm_run = helm_run
    yield t
    helm_run("uninstall", release, "--wait", check=False)  # a no-op when the test uninstalled already
    for o in t.objects:
        if o["kind"] == "Namespace" or o["kind"] in ("ClusterRole", "ClusterRoleBinding") + tuple(POLICY_KINDS):
            kube.delete(o)  # cluster-scoped, or hooks: what uninstall leaves behind


def live(kube, obj: dict) -> dict | None:
    meta = obj["metadata"]
    return kube.get(BY_KIND[obj["kind"]], meta["name"], meta.get("namespace"))


def contained(want, got) -> bool:
    """Every field of `want` is in `got` with the same value (the server adds defaults and status)."""
    if isinstance(want, dict):
        return isinstance(got, dict) and all(k in got and contained(v, got[k]) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(got, list) and len(want) == len(got) and all(map(contained, want, got))
    return want == got


def namespace_phase(kube, name: str) -> str | None:
    ns = kube.get(BY_KIND["Namespace"], name)
    return ns["status"]["phase"] if ns else None


def test_helm_install_creates_what_runnerkit_renders_and_uninstall_keeps_namespaces(kube, tenants):
    t = tenants
    run = t.helm_run("install", t.release, str(CHART), "-f", str(t.values), "--wait", "--timeout", "90s")
    assert "NOT enforced" not in run.stdout  # the server serves ValidatingAdmissionPolicy
    assert f'KUBERNETES_NAMESPACE_OVERWRITE: "web-{t.u}"' in run.stdout
    assert "ValidatingAdmissionPolicy" not in t.helm_run("get", "manifest", t.release).stdout
    hooks = t.helm_run("get", "hooks", t.release).stdout  # policies are hooks: written first
    assert "kind: ValidatingAdmissionPolicy\n" in hooks and "kind: ValidatingAdmissionPolicyBinding\n" in hooks

    expected = t.objects
    assert len(expected) == 19
    for obj in expected:
        got = live(kube, obj)
        assert got is not None, f"{obj['kind']} {obj['metadata']} was not created"
        labels = dict(obj["metadata"]["labels"])
        # Helm stamps every object of the release with managed-by=Helm (see the README, "Helm
        # chart"); hooks are not release objects and keep runnerkit's label
        assert got["metadata"]["labels"].pop(MANAGED_BY) == ("runnerkit" if obj["kind"] in POLICY_KINDS else "Helm")
        labels.pop(MANAGED_BY)
        assert contained(labels, got["metadata"]["labels"]), got["metadata"]
        assert contained(obj["metadata"].get("annotations", {}), got["metadata"].get("annotations", {}))
        body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
        assert contained(body, got), (obj, got)

    t.helm_run("uninstall", t.release, "--wait")
    for project in t.spec.projects:
        assert namespace_phase(kube, project.namespace) == "Active"  # kept: they hold data
    for obj in expected:
        if obj["kind"] in POLICY_KINDS:  # hooks outlive the release (documented); they only restrict
            assert live(kube, obj) is not None
        elif obj["kind"] != "Namespace":
            assert live(kube, obj) is None, f"{obj['kind']} {obj['metadata']['name']} survived uninstall"


def test_helm_uninstall_deletes_namespaces_when_values_say_so(kube, tenants):
    t = tenants
    t.helm_run("install", t.release, str(CHART), "-f", str(t.values), "--set", "keepNamespaces=false",
               "--wait", "--timeout", "90s")
    names = [p.namespace for p in t.spec.projects]
    assert all(namespace_phase(kube, n) == "Active" for n in names)
    t.helm_run("uninstall", t.release, "--wait")
    deadline = time.monotonic() + 60
    while any(namespace_phase(kube, n) == "Active" for n in names) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert all(namespace_phase(kube, n) in (None, "Terminating") for n in names)
    assert namespace_phase(kube, f"prod-{t.u}") == "Active"  # not the chart's: left alone


def test_gitops_apply_of_helm_template_matches_runnerkit_exactly(kube, tenants, cli_run):
    # Argo CD renders with `helm template` (passing the cluster's API versions) and applies the
    # result itself: no Helm release, so the objects keep app.kubernetes.io/managed-by=runnerkit.
    t = tenants
    assert "validatingadmissionpolicies" in kube.served_resources("admissionregistration.k8s.io/v1")
    rendered = t.helm.run("template", t.release, str(CHART), "-f", str(t.values),
                          *(f"--api-versions={api}" for api in POLICY_APIS)).stdout
    assert "kind: ValidatingAdmissionPolicy\n" in rendered
    kubectl = tool(t.helm.version, "kubectl")
    subprocess.run([str(kubectl), "--kubeconfig", t.kubeconfig, "apply", "--server-side",
                    "--field-manager", "gitops", "-f", "-"], input=rendered, text=True, check=True,
                   capture_output=True, timeout=120)
    try:
        diff = cli_run("diff", t.spec_file, "--kubeconfig", t.kubeconfig)
        assert diff.code == 0, diff  # nothing to change: same objects, same content
        assert "does not serve" not in diff.err
    finally:
        cli_run("delete", t.spec_file, "--kubeconfig", t.kubeconfig, "--delete-namespaces")


def test_teams_move_from_runnerkit_apply_to_helm_and_back(kube, tenants, cli_run):
    t = tenants
    k = ("--kubeconfig", t.kubeconfig)
    try:
        assert cli_run("apply", t.spec_file, *k).code == 0
        # Helm refuses objects it does not own; --take-ownership (Helm >= 3.17) adopts them, and
        # Helm 4's server-side apply also needs --force-conflicts to take over runnerkit's fields
        refused = t.helm_run("install", t.release, str(CHART), "-f", str(t.values), check=False)
        assert refused.returncode != 0
        assert "exists and cannot be imported into the current release" in refused.stderr
        force = ["--force-conflicts"] if t.helm.version == "v37" else []
        t.helm_run("install", t.release, str(CHART), "-f", str(t.values), "--take-ownership", *force, "--wait")
        sa = t.spec.projects[0]
        got = kube.get(BY_KIND["ServiceAccount"], sa.service_account, sa.namespace)
        assert got["metadata"]["annotations"]["meta.helm.sh/release-name"] == t.release
        # and back: after uninstall the namespaces stay, and runnerkit apply restores the rest
        t.helm_run("uninstall", t.release, "--wait")
        assert kube.get(BY_KIND["ServiceAccount"], sa.service_account, sa.namespace) is None
        assert cli_run("apply", t.spec_file, *k).code == 0
        diff = cli_run("diff", t.spec_file, *k)
        assert diff.code == 0, diff
    finally:
        cli_run("delete", t.spec_file, *k, "--delete-namespaces")
