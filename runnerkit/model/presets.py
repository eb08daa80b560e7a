"""Built-in grants. Each preset's exact rules are pinned by tests/test_presets.py."""

from __future__ import annotations

from dataclasses import dataclass

RW = ["get", "list", "watch", "create", "update", "patch", "delete"]
READ = ["get", "list", "watch"]


def rule(api_groups: list[str], resources: list[str], verbs: list[str],
         resource_names: list[str] | None = None) -> dict:
    out = {"apiGroups": api_groups, "resources": resources}
    if resource_names:
        out["resourceNames"] = resource_names
    out["verbs"] = verbs
    return out


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    rules: tuple[dict, ...] = ()
    cluster_role: str | None = None  # bind this existing ClusterRole instead of rendering rules


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset(
        "helm-deployer",
        "What `helm upgrade --install` needs in a namespace: release Secrets (Helm finds releases by "
        "label, so `list` stays and resourceNames cannot narrow it) and the workload kinds charts "
        "usually install. No RBAC writes, no pods/exec, no escalate/bind/impersonate.",
        rules=(
            rule([""], ["secrets"], ["get", "list", "create", "update", "delete"]),
            rule([""], ["configmaps", "services", "serviceaccounts", "persistentvolumeclaims"], RW),
            rule([""], ["pods", "events", "endpoints"], READ),
            rule(["apps"], ["deployments", "statefulsets", "daemonsets"], RW),
            rule(["apps"], ["replicasets"], READ),
            rule(["batch"], ["jobs", "cronjobs"], RW),
            rule(["networking.k8s.io"], ["ingresses", "networkpolicies"], RW),
            rule(["autoscaling"], ["horizontalpodautoscalers"], RW),
            rule(["policy"], ["poddisruptionbudgets"], RW),
        ),
    ),
    Preset(
        "kpack-builder",
        "The rules of kpack's `build-service-user-role`: manage Images, Builds and Builders, write "
        "registry Secrets without reading them, read pods and their logs. The clusterbuilders/"
        "clusterstacks/clusterstores read rule only takes effect when bound cluster-wide.",
        rules=(
            rule([""], ["configmaps"], RW),
            rule([""], ["secrets"], ["create", "update", "patch", "delete"]),
            rule(["kpack.io"], ["builders", "images", "builds"], RW),
            rule([""], ["pods", "pods/log"], READ),
            rule(["kpack.io"], ["clusterbuilders", "clusterstacks", "clusterstores"], READ),
            rule([""], ["serviceaccounts"], ["get", "update", "patch"], ["default"]),
        ),
    ),
    Preset("viewer", "Kubernetes' built-in `view` ClusterRole, bound in the namespace.",
           cluster_role="view"),
    Preset("pod-reader", "Get and list pods.", rules=(rule([""], ["pods"], ["get", "list"]),)),
    Preset(
        "arc-kube-mode",
        "What GitHub ARC's `containerMode: kubernetes` runner needs (the chart's own kube-mode Role, "
        "which it stops rendering once you name your own ServiceAccount).",
        rules=(
            rule([""], ["pods"], ["get", "list", "create", "delete"]),
            rule([""], ["pods/exec"], ["get", "create"]),
            rule([""], ["pods/log"], ["get", "list", "watch"]),
            rule(["batch"], ["jobs"], ["get", "list", "create", "delete"]),
            rule([""], ["secrets"], ["get", "list", "create", "delete"]),
        ),
    ),
)}

# Rights the GitLab Runner *manager* needs in every namespace it runs jobs in (GitLab's documented
# permissions for the Kubernetes executor); rendered per gitlab project namespace.
GITLAB_MANAGER_RULES: tuple[dict, ...] = (
    rule([""], ["pods"], ["create", "delete", "get", "list", "watch"]),
    rule([""], ["pods/exec", "pods/attach"], ["create", "delete", "get", "patch"]),
    rule([""], ["pods/log"], ["get", "list"]),
    rule([""], ["secrets"], ["create", "delete", "get", "update"]),
    rule([""], ["serviceaccounts"], ["get"]),
    rule([""], ["services"], ["create", "get"]),
    rule([""], ["events"], ["list", "watch"]),
)
