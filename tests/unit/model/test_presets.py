"""Each preset's exact rules, pinned: a change here is a change in what CI jobs may do."""

from runnerkit.model.presets import GITLAB_MANAGER_RULES, PRESETS

RW = ["get", "list", "watch", "create", "update", "patch", "delete"]
READ = ["get", "list", "watch"]


def r(groups, resources, verbs, names=None):
    out = {"apiGroups": groups, "resources": resources}
    if names:
        out["resourceNames"] = names
    out["verbs"] = verbs
    return out


def test_helm_deployer_rules():
    assert list(PRESETS["helm-deployer"].rules) == [
        r([""], ["secrets"], ["get", "list", "create", "update", "delete"]),
        r([""], ["configmaps", "services", "serviceaccounts", "persistentvolumeclaims"], RW),
        r([""], ["pods", "events", "endpoints"], READ),
        r(["apps"], ["deployments", "statefulsets", "daemonsets"], RW),
        r(["apps"], ["replicasets"], READ),
        r(["batch"], ["jobs", "cronjobs"], RW),
        r(["networking.k8s.io"], ["ingresses", "networkpolicies"], RW),
        r(["autoscaling"], ["horizontalpodautoscalers"], RW),
        r(["policy"], ["poddisruptionbudgets"], RW),
    ]


def test_helm_deployer_is_least_privilege():
    rules = PRESETS["helm-deployer"].rules
    resources = {res for rule in rules for res in rule["resources"]}
    verbs = {v for rule in rules for v in rule["verbs"]}
    assert not resources & {"roles", "rolebindings", "clusterroles", "clusterrolebindings", "pods/exec",
                            "pods/attach", "serviceaccounts/token"}
    assert not verbs & {"escalate", "bind", "impersonate", "*"}
    secrets = next(rule for rule in rules if rule["resources"] == ["secrets"])
    assert "list" in secrets["verbs"] and "resourceNames" not in secrets  # helm finds releases by label


def test_kpack_builder_rules():
    assert list(PRESETS["kpack-builder"].rules) == [
        r([""], ["configmaps"], RW),
        r([""], ["secrets"], ["create", "update", "patch", "delete"]),
        r(["kpack.io"], ["builders", "images", "builds"], RW),
        r([""], ["pods", "pods/log"], READ),
        r(["kpack.io"], ["clusterbuilders", "clusterstacks", "clusterstores"], READ),
        r([""], ["serviceaccounts"], ["get", "update", "patch"], ["default"]),
    ]


def test_viewer_binds_view_and_pod_reader_reads_pods():
    assert PRESETS["viewer"].cluster_role == "view" and PRESETS["viewer"].rules == ()
    assert list(PRESETS["pod-reader"].rules) == [r([""], ["pods"], ["get", "list"])]


def test_arc_kube_mode_matches_the_chart_role():
    import yaml
    from conftest import FIXTURES

    docs = yaml.safe_load_all((FIXTURES / "arc" / "scale-set-kube-mode.yaml").read_text())
    chart_role = next(d for d in docs if d and d["kind"] == "Role" and d["metadata"]["name"].endswith("kube-mode"))
    assert list(PRESETS["arc-kube-mode"].rules) == chart_role["rules"]


def test_gitlab_manager_rules_are_the_documented_executor_permissions():
    assert list(GITLAB_MANAGER_RULES) == [
        r([""], ["pods"], ["create", "delete", "get", "list", "watch"]),
        r([""], ["pods/exec", "pods/attach"], ["create", "delete", "get", "patch"]),
        r([""], ["pods/log"], ["get", "list"]),
        r([""], ["secrets"], ["create", "delete", "get", "update"]),
        r([""], ["serviceaccounts"], ["get"]),
        r([""], ["services"], ["create", "get"]),
        r([""], ["events"], ["list", "watch"]),
    ]
