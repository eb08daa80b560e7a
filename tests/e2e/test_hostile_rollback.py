"""gitlab rollback after a hand edit of the template: shows the diff, refuses without --force."""

from __future__ import annotations

from conftest import run_cli
from runnerkit.gitlab.template import TEMPLATE_KEY
from runnerkit.model.kinds import CONFIG_MAP
from .test_gitlab import live, load_chart, spec_for, write_spec


def test_rollback_refuses_to_discard_a_hand_edit(kube, kubeconfig, make_namespace, unique, tmp_path):
    ns = make_namespace(f"gitlab-runner-{unique}")
    load_chart(kube, "custom-config.yaml", ns)
    spec_file = write_spec(tmp_path, spec_for(unique, ns, "ci"), unique, ns)
    original = live(kube, ns, "ci-gitlab-runner")[0]["data"][TEMPLATE_KEY]
    assert run_cli("gitlab", "configure-runner", spec_file, "--kubeconfig", kubeconfig, "--no-restart").code == 0

    cm = live(kube, ns, "ci-gitlab-runner")[0]
    edited = cm["data"][TEMPLATE_KEY] + "# hand edit: keep me\n"
    cm["data"][TEMPLATE_KEY] = edited
    kube.replace(CONFIG_MAP, cm)
    version = live(kube, ns, "ci-gitlab-runner")[0]["metadata"]["resourceVersion"]

    r = run_cli("gitlab", "rollback", spec_file, "--kubeconfig", kubeconfig, "--no-restart")
    assert r.code == 1, r
    assert "-# hand edit: keep me" in r.out  # the diff shows what would be lost
    assert r.err.count("\n") == 1 and "edited since configure-runner wrote it" in r.err and "--force" in r.err
    assert live(kube, ns, "ci-gitlab-runner")[0]["metadata"]["resourceVersion"] == version

    dry = run_cli("gitlab", "rollback", spec_file, "--kubeconfig", kubeconfig, "--dry-run")
    assert dry.code == 0 and "needs --force" in dry.err

    r = run_cli("gitlab", "rollback", spec_file, "--kubeconfig", kubeconfig, "--no-restart", "--force")
    assert r.code == 0, r
    assert live(kube, ns, "ci-gitlab-runner")[0]["data"][TEMPLATE_KEY] == original


def test_rollback_without_a_hand_edit_needs_no_force(kube, kubeconfig, make_namespace, unique, tmp_path):
    ns = make_namespace(f"gitlab-runner-{unique}")
    load_chart(kube, "custom-config.yaml", ns)
    spec_file = write_spec(tmp_path, spec_for(unique, ns, "ci"), unique, ns)
    original = live(kube, ns, "ci-gitlab-runner")[0]["data"][TEMPLATE_KEY]
    assert run_cli("gitlab", "configure-runner", spec_file, "--kubeconfig", kubeconfig, "--no-restart").code == 0
    r = run_cli("gitlab", "rollback", spec_file, "--kubeconfig", kubeconfig, "--no-restart")
    assert r.code == 0, r
    assert live(kube, ns, "ci-gitlab-runner")[0]["data"][TEMPLATE_KEY] == original
