"""The spec model: runnerkit.yaml as typed, frozen values with defaults applied. Built only by
model/validate.py (loads), which reports every problem with its file:line."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import InputError
from . import identities as identitymod

API_VERSION = "runnerkit.io/v1alpha1"
KIND = "RunnerkitConfig"


@dataclass(frozen=True)
class Runner:
    name: str
    type: str
    namespace: str
    release: str
    fullname: str  # the chart's fullname: names of its ConfigMap, Deployment and ServiceAccount
    service_account: str
    config_map: str
    deployment: str


@dataclass(frozen=True)
class Grant:
    name: str
    namespaces: tuple[str, ...]  # the project's own namespace first, then any targets
    rules: tuple[dict, ...] = ()  # explicit or preset rules: rendered as a Role/ClusterRole
    cluster_role: str | None = None  # an existing ClusterRole to bind
    cluster_wide: bool = False
    source: str = ""  # what the user wrote, for messages


@dataclass(frozen=True)
class GitlabProject:
    project: str | None = None  # id or path, for push-variables
    project_ids: tuple[int, ...] = ()
    groups: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class GithubProject:
    repository: str | None = None
    environment: str | None = None
    container_mode: str | None = None  # the scale set's containerMode.type, when the spec states it

    @property
    def kube_mode(self) -> bool:
        """Job pods are created by the container hook, which needs a hook template to name the SA."""
        return self.container_mode in ("kubernetes", "kubernetes-novolume")


@dataclass(frozen=True)
class Project:
    name: str
    runner: Runner
    namespace: str
    service_account: str
    manage_namespace: bool = True  # False: the Namespace is borrowed; never created, labelled or deleted
    namespace_labels: dict = field(default_factory=dict)
    namespace_annotations: dict = field(default_factory=dict)
    service_account_annotations: dict = field(default_factory=dict)
    automount_token: bool | None = None
    image_pull_secrets: tuple[str, ...] = ()
    resource_quota: dict | None = None
    limit_range: dict | None = None
    grants: tuple[Grant, ...] = ()
    gitlab: GitlabProject = GitlabProject()
    github: GithubProject = GithubProject()
    adopt_namespace: bool = False  # take over an existing namespace runnerkit did not create
    identities: tuple[identitymod.Identity, ...] = ()  # CI jobs that act as this project (OIDC)


@dataclass(frozen=True)
class Spec:
    name: str
    path: str
    runners: dict[str, Runner]
    projects: tuple[Project, ...]
    document: dict = field(default_factory=dict, compare=False, repr=False)  # as written, for the chart
    issuers: dict[str, identitymod.Issuer] = field(default_factory=dict)

    @property
    def adopted_namespaces(self) -> frozenset[str]:
        """Existing namespaces the spec takes over (adoptNamespace: true); others are only used."""
        return frozenset(p.namespace for p in self.projects if p.adopt_namespace)

    def project(self, name: str) -> Project:
        for p in self.projects:
            if p.name == name:
                return p
        raise InputError(
            f"{self.path}: no project named {name!r}; known projects: "
            + ", ".join(p.name for p in self.projects)
        )

    def runner(self, name: str | None, type_: str) -> Runner:
        candidates = [r for r in self.runners.values() if r.type == type_]
        if name:
            if name not in self.runners or self.runners[name].type != type_:
                raise InputError(f"{self.path}: no {type_} runner named {name!r}; known: "
                                 + (", ".join(r.name for r in candidates) or "none"))
            return self.runners[name]
        if len(candidates) != 1:
            raise InputError(f"{self.path}: {len(candidates)} {type_} runners declared; "
                             "pick one with --runner NAME")
        return candidates[0]


def chart_fullname(release: str, fullname_override: str | None, chart: str = "gitlab-runner") -> str:
    # Mirrors the gitlab-runner chart's helper: hasPrefix, not contains.
    if fullname_override:
        name = fullname_override
    elif release.startswith(chart):
        name = release
    else:
        name = f"{release}-{chart}"
    return name[:63].rstrip("-")
