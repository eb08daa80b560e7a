"""Values the API server would refuse, checked locally so a bad spec fails before the first write.

Each check returns None when the value is fine, else what is wrong and how to fix it (the spec
validator adds file:line and the field). Pure: no I/O.
"""

from __future__ import annotations

import re
from typing import Any

from .limits import ANNOTATIONS_TOTAL_BYTES, human_bytes

# k8s.io/apimachinery/pkg/api/resource: <signedNumber><suffix>, suffix binary (Ki..Ei), decimal
# (n u m "" k M G T P E) or an exponent (e3, E-2).
QUANTITY = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?$")
QUOTA_SCOPES = {"Terminating", "NotTerminating", "BestEffort", "NotBestEffort", "PriorityClass",
                "CrossNamespacePodAffinity", "VolumeAttributesClass"}
LIMIT_TYPES = {"Container", "Pod", "PersistentVolumeClaim"}
LIMIT_KEYS = ("type", "max", "min", "default", "defaultRequest", "maxLimitRequestRatio")
RESOURCE_NAME = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                           r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
# GitHub: owner 1-39 of letters, digits and inner '-'; repository letters, digits, '.', '-', '_'.
GITHUB_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?$")
GITHUB_REPO = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
# GitLab namespace/project path segment: letters, digits, '_', '-', '.'.
GITLAB_SEGMENT = re.compile(r"^[A-Za-z0-9_.-]+$")
RESERVED_NAMESPACE_PREFIX = "kube-"


def quantity(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return f"must be a quantity like 500m, 2, 4Gi, not {type(value).__name__}"
    text = str(value)
    if not QUANTITY.match(text):
        return f"{text!r} is not a Kubernetes quantity; write it like 500m, 2, 1.5, 4Gi or 10G"
    return None


def resource_quota(quota: dict) -> list[tuple[tuple, str]]:
    """Problems as (path inside resourceQuota, message)."""
    out: list[tuple[tuple, str]] = []
    hard = quota.get("hard")
    if hard is not None and not isinstance(hard, dict):
        out.append((("hard",), "must be a mapping of resource name to quantity"))
    for name, value in (hard or {}).items() if isinstance(hard, dict) else ():
        if not isinstance(name, str) or not RESOURCE_NAME.match(name):
            out.append((("hard", name), "is not a resource name, e.g. pods, requests.cpu, limits.memory"))
        if (problem := quantity(value)) is not None:
            out.append((("hard", name), problem))
    scopes = quota.get("scopes")
    if scopes is not None:
        if not isinstance(scopes, list) or any(s not in QUOTA_SCOPES for s in scopes):
            out.append((("scopes",), "must list quota scopes: " + ", ".join(sorted(QUOTA_SCOPES))))
    if quota.get("scopeSelector") is not None and not isinstance(quota["scopeSelector"], dict):
        out.append((("scopeSelector",), "must be a mapping with matchExpressions"))
    return out


def limit_range(limits: dict) -> list[tuple[tuple, str]]:
    out: list[tuple[tuple, str]] = []
    items = limits.get("limits")
    if not isinstance(items, list) or not items:
        return [(("limits",), "must be a non-empty list of limits, each with type: Container, Pod or "
                              "PersistentVolumeClaim")]
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            out.append((("limits", i), "must be a mapping"))
            continue
        for key in item:
            if key not in LIMIT_KEYS:
                out.append((("limits", i, key), "is not a known key; allowed: " + ", ".join(LIMIT_KEYS)))
        if item.get("type") not in LIMIT_TYPES:
            out.append((("limits", i, "type"), f"must be one of {', '.join(sorted(LIMIT_TYPES))}, "
                                               f"not {item.get('type')!r}"))
        for key in LIMIT_KEYS[1:]:
            values = item.get(key)
            if values is None:
                continue
            if not isinstance(values, dict):
                out.append((("limits", i, key), "must be a mapping of resource name to quantity"))
                continue
            for name, value in values.items():
                if (problem := quantity(value)) is not None:
                    out.append((("limits", i, key, name), problem))
    return out


def annotations_size(annotations: dict) -> str | None:
    size = sum(len(str(k).encode()) + len(str(v).encode()) for k, v in annotations.items())
    if size > ANNOTATIONS_TOTAL_BYTES:
        return (f"total {human_bytes(size)}, more than the {human_bytes(ANNOTATIONS_TOTAL_BYTES)} "
                "Kubernetes allows on one object; keep large data out of annotations")
    return None


def reserved_namespace(name: str, allow_default: bool) -> str | None:
    if name.startswith(RESERVED_NAMESPACE_PREFIX):
        return (f"{name!r} is a Kubernetes system namespace; runnerkit never labels, grants into or "
                "deletes kube-* namespaces: pick the project's own namespace")
    if name == "default" and not allow_default:
        return ("'default' is shared by everything that names no namespace; use the project's own "
                "namespace, or add allowDefaultNamespace: true to the project if you really mean it")
    return None


def github_repository(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be OWNER/REPO, not {type(value).__name__}"
    owner, sep, repo = value.partition("/")
    if (not sep or not GITHUB_OWNER.match(owner) or not GITHUB_REPO.match(repo)
            or repo in (".", "..")):
        return f"must be OWNER/REPO (letters, digits, '-', '.', '_'), not {value!r}"
    return None


def gitlab_path(value: Any) -> str | None:
    """A GitLab group or project path: group/sub/name (outer '/' ignored), no empty segments: an
    empty path would match pods that carry no project label at all."""
    if not isinstance(value, str) or not value.strip("/"):
        return f"must be a group path like my-group or my-group/sub, not {value!r}"
    segments = value.strip("/").split("/")
    if any(not GITLAB_SEGMENT.match(s) or s in (".", "..") for s in segments):
        return (f"{value!r} is not a GitLab path: segments of letters, digits, '_', '-' and '.', "
                "separated by single '/'")
    return None
