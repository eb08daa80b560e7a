"""The object kinds runnerkit manages, in apply order (delete order is the reverse)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    kind: str
    api_version: str
    plural: str
    namespaced: bool
    # Objects of one wave are written concurrently; waves go in order and stop at the first
    # failure. The GitLab isolation policy and its binding come first: if the server refuses them,
    # the runner manager gets none of the rights they guard.
    wave: int

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    def collection_path(self, namespace: str | None = None) -> str:
        base = f"/api/{self.api_version}" if not self.group else f"/apis/{self.api_version}"
        if self.namespaced and namespace:
            return f"{base}/namespaces/{namespace}/{self.plural}"
        return f"{base}/{self.plural}"

    def object_path(self, name: str, namespace: str | None = None) -> str:
        return f"{self.collection_path(namespace)}/{name}"

    def display(self, name: str, namespace: str | None = None) -> str:
        kind = self.kind.lower() + (f".{self.group}" if self.group else "")
        return f"{kind}/{name}" + (f" -n {namespace}" if namespace else "")


RBAC = "rbac.authorization.k8s.io/v1"
ADMISSION = "admissionregistration.k8s.io/v1"

KINDS: tuple[Kind, ...] = (
    Kind("Namespace", "v1", "namespaces", False, 2),
    Kind("ServiceAccount", "v1", "serviceaccounts", True, 3),
    Kind("ResourceQuota", "v1", "resourcequotas", True, 3),
    Kind("LimitRange", "v1", "limitranges", True, 3),
    Kind("ConfigMap", "v1", "configmaps", True, 3),
    Kind("ClusterRole", RBAC, "clusterroles", False, 3),
    Kind("Role", RBAC, "roles", True, 3),
    Kind("ClusterRoleBinding", RBAC, "clusterrolebindings", False, 4),
    Kind("RoleBinding", RBAC, "rolebindings", True, 4),
    Kind("ValidatingAdmissionPolicy", ADMISSION, "validatingadmissionpolicies", False, 0),
    Kind("ValidatingAdmissionPolicyBinding", ADMISSION, "validatingadmissionpolicybindings", False, 1),
)
BY_KIND = {k.kind: k for k in KINDS}

CONFIG_MAP = BY_KIND["ConfigMap"]  # applied (GitHub hook templates) and read (GitLab runner config)

# Kinds runnerkit reads or patches but never applies from a spec (no wave: not in KINDS).
DEPLOYMENT = Kind("Deployment", "apps/v1", "deployments", True, 0)
SECRET = Kind("Secret", "v1", "secrets", True, 0)
ORDER = {k.kind: i for i, k in enumerate(KINDS)}


def kind_of(obj: dict) -> Kind:
    return BY_KIND[obj["kind"]]


def sort_key(obj: dict) -> tuple:
    meta = obj["metadata"]
    return ORDER[obj["kind"]], meta.get("namespace", ""), meta["name"]
