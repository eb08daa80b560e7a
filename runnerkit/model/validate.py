"""runnerkit.yaml: parse once, validate everything, return a typed Spec with defaults applied.

Every problem is reported as `file:line: field: what is wrong; how to fix it`, all at once.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from . import identities as identitymod, kvalues
from ..errors import SpecError
from .spec import (API_VERSION, KIND, GithubProject, GitlabProject, Project, Runner, Spec,
                   chart_fullname)
from .validate_grants import GrantChecks
from .yamlsrc import Located, format_path, parse

RUNNER_TYPES = ("gitlab", "github")

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

TOP_KEYS = ("apiVersion", "kind", "metadata", "issuers", "runners", "defaults", "projects")
RUNNER_KEYS = ("name", "type", "namespace", "release", "fullnameOverride", "serviceAccount",
               "configMap", "deployment")
SHARED_KEYS = ("runner", "manageNamespace", "namespaceLabels", "namespaceAnnotations",
               "serviceAccountAnnotations",
               "automountServiceAccountToken", "imagePullSecrets", "resourceQuota", "limitRange",
               "access")
DEFAULT_KEYS = ("namespace", "serviceAccount") + SHARED_KEYS
PROJECT_KEYS = ("name", "namespace", "serviceAccount") + SHARED_KEYS + ("gitlab", "github",
                                                                        "allowDefaultNamespace",
                                                                        "adoptNamespace", "identities")
GITLAB_KEYS = ("projectIds", "groups", "tags", "project")
GITHUB_KEYS = ("repository", "environment", "containerMode")
CONTAINER_MODES = ("default", "dind", "kubernetes", "kubernetes-novolume")

# Namespaces the cluster owns: a project may use them, runnerkit never labels or deletes them.
RESERVED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
DEFAULT_NAMESPACE = "{project}"
DEFAULT_SERVICE_ACCOUNT = "{project}-ci"


def loads(text: str, filename: str = "runnerkit.yaml") -> Spec:
    return _Validator(parse(text, filename)).spec()


class _Validator(GrantChecks):
    def __init__(self, src: Located):
        self.src = src
        self.problems: list[str] = []
        self.issuers: dict[str, identitymod.Issuer] = {}

    def fail(self, path: tuple, message: str) -> None:
        self.problems.append(f"{self.src.where(path)}: {format_path(path)} {message}")

    # -- generic checks -------------------------------------------------------------------------

    def mapping(self, value: Any, path: tuple, allowed: tuple[str, ...]) -> dict:
        if not isinstance(value, dict):
            self.fail(path, f"must be a mapping, not {_type_name(value)}")
            return {}
        for key in value:
            if key not in allowed:
                hint = difflib.get_close_matches(str(key), allowed, n=1)
                fix = f"did you mean {hint[0]!r}?" if hint else "allowed keys: " + ", ".join(allowed)
                self.fail(path + (key,), f"is not a known key; {fix}")
        return value

    def sequence(self, value: Any, path: tuple) -> list:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(path, f"must be a list, not {_type_name(value)}")
            return []
        return value

    def string(self, value: Any, path: tuple, pattern: re.Pattern | None = None,
               max_len: int = 0, what: str = "") -> str | None:
        if not isinstance(value, str) or not value:
            self.fail(path, f"must be a non-empty string, not {_type_name(value)}")
            return None
        if pattern and (not pattern.match(value) or (max_len and len(value) > max_len)):
            self.fail(path, f"{value!r} is not a valid {what}")
            return None
        return value

    def name(self, value: Any, path: tuple, kind: str) -> str | None:
        if kind == "serviceAccount":
            return self.string(value, path, DNS_SUBDOMAIN, 253,
                               "ServiceAccount name: lowercase letters, digits, '-' and '.', at most 253")
        return self.string(value, path, DNS_LABEL, 63,
                           f"{kind} name: lowercase letters, digits and '-', at most 63")

    def boolean(self, value: Any, path: tuple) -> bool:
        if not isinstance(value, bool):
            self.fail(path, f"must be true or false, not {value!r}")
            return False
        return value

    def labels(self, value: Any, path: tuple, annotations: bool = False) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(path, f"must be a mapping of strings, not {_type_name(value)}")
            return {}
        out = {}
        for key, val in value.items():
            if not _valid_qualified_name(str(key)):
                self.fail(path + (key,), "is not a valid key: [prefix/]name, name at most 63 "
                                         "characters of letters, digits, '-', '_' and '.'")
            if not isinstance(val, str):
                self.fail(path + (key,), f"must be a string, not {_type_name(val)}; quote it")
            elif not annotations and (len(val) > 63 or not LABEL_VALUE.match(val)):
                self.fail(path + (key,), f"{val!r} is not a valid label value: at most 63 letters, "
                                         "digits, '-', '_' and '.', starting and ending alphanumeric")
            out[str(key)] = val
        return out

    # -- the document ---------------------------------------------------------------------------

    def spec(self) -> Spec:
        doc = self.src.data
        if not isinstance(doc, dict):
            raise SpecError([f"{self.src.filename}:1: the file must be a mapping with apiVersion, "
                             f"kind, metadata and projects, not {_type_name(doc)}"])
        self.mapping(doc, (), TOP_KEYS)
        if doc.get("apiVersion") != API_VERSION:
            self.fail(("apiVersion",), f"must be {API_VERSION!r}, not {doc.get('apiVersion')!r}")
        if doc.get("kind") != KIND:
            self.fail(("kind",), f"must be {KIND!r}, not {doc.get('kind')!r}")
        meta = self.mapping(doc.get("metadata"), ("metadata",), ("name",))
        name = self.name(meta.get("name"), ("metadata", "name"), "spec") or "invalid"
        runners = self.runners(doc.get("runners"))
        self.issuers = identitymod.issuers(self, doc.get("issuers"))
        defaults = self.mapping({} if doc.get("defaults") is None else doc["defaults"], ("defaults",),
                                DEFAULT_KEYS)
        projects = [self.project(p, ("projects", i), defaults, runners)
                    for i, p in enumerate(self.sequence(doc.get("projects"), ("projects",)))]
        if not projects and "projects" not in doc:
            self.fail(("projects",), "is missing; add at least one project")
        self.unique(projects)
        if self.problems:
            raise SpecError(sorted(self.problems, key=_line_of))
        return Spec(name, self.src.filename, runners, tuple(p for p in projects if p), doc, self.issuers)

    def runners(self, value: Any) -> dict[str, Runner]:
        out: dict[str, Runner] = {}
        for i, item in enumerate(self.sequence(value, ("runners",))):
            path = ("runners", i)
            r = self.mapping(item, path, RUNNER_KEYS)
            name = self.name(r.get("name"), path + ("name",), "runner")
            type_ = r.get("type")
            if type_ not in RUNNER_TYPES:
                self.fail(path + ("type",), f"must be one of {', '.join(RUNNER_TYPES)}, not {type_!r}")
            namespace = self.name(r.get("namespace"), path + ("namespace",), "namespace")
            release = r.get("release", "gitlab-runner" if type_ == "gitlab" else name)
            self.name(release, path + ("release",), "release")
            override = r.get("fullnameOverride")
            if override is not None:
                self.name(override, path + ("fullnameOverride",), "fullnameOverride")
            fullname = chart_fullname(str(release), override) if type_ == "gitlab" else str(release)
            for key in ("serviceAccount", "configMap", "deployment"):
                if key in r:
                    self.name(r[key], path + (key,), "serviceAccount" if key == "serviceAccount"
                              else "object")
            if name in out:
                self.fail(path + ("name",), f"runner {name!r} is declared twice; names must be unique")
            if name and namespace and type_ in RUNNER_TYPES:
                out[name] = Runner(name, type_, namespace, str(release), fullname,
                                   r.get("serviceAccount", fullname), r.get("configMap", fullname),
                                   r.get("deployment", fullname))
        return out

    def project(self, value: Any, path: tuple, defaults: dict, runners: dict) -> Project | None:
        raw = self.mapping(value, path, PROJECT_KEYS)
        if not raw:
            return None
        valid_name = self.name(raw.get("name"), path + ("name",), "project")
        # An invalid name is reported once; the rest of the project is still checked, under a
        # stand-in name that cannot cause errors of its own.
        name = valid_name or "project"

        def pick(key: str, fallback: Any = None) -> tuple[Any, tuple]:
            if key in raw:
                return raw[key], path + (key,)
            if key in defaults:
                return defaults[key], ("defaults", key)
            return fallback, path

        def merged(key: str, annotations: bool = False) -> dict:
            base = self.labels(defaults.get(key), ("defaults", key), annotations)
            return {**base, **self.labels(raw.get(key), path + (key,), annotations)}

        ns_value, ns_path = pick("namespace", DEFAULT_NAMESPACE)
        sa_value, sa_path = pick("serviceAccount", DEFAULT_SERVICE_ACCOUNT)
        namespace = self.name(_expand(ns_value, name), ns_path, "namespace")
        sa = self.name(_expand(sa_value, name), sa_path, "serviceAccount")
        allow_default = (self.boolean(raw["allowDefaultNamespace"], path + ("allowDefaultNamespace",))
                         if "allowDefaultNamespace" in raw else False)
        adopt = self.boolean(raw["adoptNamespace"], path + ("adoptNamespace",)) if "adoptNamespace" in raw else False
        if namespace and (problem := kvalues.reserved_namespace(namespace, allow_default)):
            self.fail(ns_path, problem)

        manage_value, manage_path = pick("manageNamespace")
        manage = (self.boolean(manage_value, manage_path) if manage_value is not None
                  else namespace not in RESERVED_NAMESPACES)
        if not manage and (raw.get("namespaceLabels") or raw.get("namespaceAnnotations")):
            self.fail(path + ("namespaceLabels" if raw.get("namespaceLabels") else "namespaceAnnotations",),
                      f"cannot be set: runnerkit does not manage namespace {namespace!r} (manageNamespace: "
                      "false); label it where it is managed, or drop the key")
        if adopt and not manage:
            self.fail(path + ("adoptNamespace",), f"cannot be true: runnerkit does not manage namespace "
                      f"{namespace!r} (manageNamespace: false), so there is nothing to adopt; drop one of them")

        runner_name, runner_path = pick("runner")
        runner = runners.get(runner_name) if isinstance(runner_name, str) else None
        if runner is None:
            known = ", ".join(runners) or "none declared in runners:"
            self.fail(runner_path if runner_name is not None else path,
                      f"{'runner ' + repr(runner_name) + ' is not declared' if runner_name else 'needs a runner'}"
                      f"; set runner: to one of: {known}")

        automount, automount_path = pick("automountServiceAccountToken")
        if automount is not None:
            self.boolean(automount, automount_path)
        pull_value, pull_path = pick("imagePullSecrets")
        pull = [self.name(s, pull_path + (i,), "secret")
                for i, s in enumerate(self.sequence(pull_value, pull_path))]
        quota, quota_path = pick("resourceQuota")
        if quota is not None and self.mapping(quota, quota_path, ("hard", "scopes", "scopeSelector")):
            for where, problem in kvalues.resource_quota(quota):
                self.fail(quota_path + where, problem)
        limits, limits_path = pick("limitRange")
        if limits is not None and self.mapping(limits, limits_path, ("limits",)):
            for where, problem in kvalues.limit_range(limits):
                self.fail(limits_path + where, problem)

        access, access_path = pick("access")
        indexed = [(i, grant) for i, item in enumerate(self.sequence(access, access_path))
                   if (grant := self.grant(item, access_path + (i,), name, namespace, allow_default))]
        self.unique_grant_names(indexed, access_path)
        grants = [grant for _, grant in indexed]

        annotations = {key: merged(key, True) for key in ("namespaceAnnotations", "serviceAccountAnnotations")}
        for key, values in annotations.items():
            if (problem := kvalues.annotations_size(values)) is not None:
                self.fail(path + (key,) if key in raw else ("defaults", key), problem)
        gitlab = self.gitlab(raw.get("gitlab"), path + ("gitlab",))
        github = self.github(raw.get("github"), path + ("github",))
        identities = identitymod.identities(self, raw.get("identities"), path + ("identities",), self.issuers)
        if not valid_name:
            return None
        return Project(
            name=name, runner=runner, namespace=namespace or "", service_account=sa or "",  # type: ignore[arg-type]  # None only after self.fail(): load() raises
            manage_namespace=manage,
            namespace_labels=merged("namespaceLabels"),
            namespace_annotations=annotations["namespaceAnnotations"],
            service_account_annotations=annotations["serviceAccountAnnotations"],
            automount_token=automount if isinstance(automount, bool) else None,
            image_pull_secrets=tuple(s for s in pull if s),
            resource_quota=quota, limit_range=limits, grants=tuple(grants),
            gitlab=gitlab, github=github,
            adopt_namespace=adopt,
            identities=identities,
        )

    def gitlab(self, value: Any, path: tuple) -> GitlabProject:
        if value is None:
            return GitlabProject()
        g = self.mapping(value, path, GITLAB_KEYS)
        ids = self.sequence(g.get("projectIds"), path + ("projectIds",))
        for i, pid in enumerate(ids):
            if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
                self.fail(path + ("projectIds", i), f"must be a positive GitLab project id, not {pid!r}")
        groups = self.sequence(g.get("groups"), path + ("groups",))
        tags = self.sequence(g.get("tags"), path + ("tags",))
        for key, items in (("groups", groups), ("tags", tags)):
            if any(not isinstance(x, str) or not x for x in items):
                self.fail(path + (key,), "must be a list of non-empty strings")
        for i, group in enumerate(groups):
            if isinstance(group, str) and group and (problem := kvalues.gitlab_path(group)):
                self.fail(path + ("groups", i), problem)
        project = g.get("project")
        if project is not None and not isinstance(project, (str, int)) or isinstance(project, bool):
            self.fail(path + ("project",), "must be a GitLab project id or path (group/name)")
        elif isinstance(project, str) and not project.isdigit() and (problem := kvalues.gitlab_path(project)):
            self.fail(path + ("project",), problem)
        return GitlabProject(None if project is None else str(project), tuple(ids),
                             tuple(map(str, groups)), tuple(map(str, tags)))

    def github(self, value: Any, path: tuple) -> GithubProject:
        if value is None:
            return GithubProject()
        g = self.mapping(value, path, GITHUB_KEYS)
        repo = g.get("repository")
        if repo is not None and (problem := kvalues.github_repository(repo)):
            self.fail(path + ("repository",), problem)
        env = g.get("environment")
        if env is not None:
            self.string(env, path + ("environment",))
        mode = g.get("containerMode")
        if mode is not None and mode not in CONTAINER_MODES:
            self.fail(path + ("containerMode",), f"must be one of {', '.join(CONTAINER_MODES)}, not {mode!r}")
            mode = None
        return GithubProject(repo, env, mode)

    def unique(self, projects: list[Project | None]) -> None:
        """Names that would collide in the cluster. Projects may share a namespace, but only one of
        them manages it, and each namespaced object runnerkit names per namespace has one owner."""
        seen: dict[tuple, int] = {}
        for i, p in enumerate(projects):
            if p is None:
                continue
            ns = p.namespace
            checks: list[tuple[tuple, str, str, str]] = [  # (key, what, field, fix)
                ((p.name,), f"project {p.name!r}", "name", "each project needs its own"),
                (("sa", ns, p.service_account), f"ServiceAccount {p.service_account!r} in namespace {ns!r}",
                 "serviceAccount", "give each project its own ServiceAccount")]
            if p.manage_namespace:
                checks.append((("ns", ns), f"namespace {ns!r}", "namespace",
                               "each project needs its own, or add manageNamespace: false to all but one"))
            for spec_key, attr in (("resourceQuota", "resource_quota"), ("limitRange", "limit_range")):
                if getattr(p, attr):
                    checks.append(((spec_key, ns), f"the {spec_key} of namespace {ns!r}", spec_key,
                                   f"a namespace has one runnerkit {spec_key}; keep it on one project"))
            if p.runner and p.runner.type == "gitlab":
                checks.append((("gitlab-manager", ns), f"the GitLab runner-manager Role in namespace {ns!r}",
                               "namespace", "give each GitLab project its own namespace"))
            for key, what, field_name, fix in checks:
                if key in seen:
                    self.fail(("projects", i, field_name), f"repeats {what} of projects[{seen[key]}]; {fix}")
                else:
                    seen[key] = i


def _line_of(problem: str) -> int:
    try:
        return int(problem.split(":", 2)[1])
    except (IndexError, ValueError):
        return 0


def _expand(template: Any, project: str) -> Any:
    return template.replace("{project}", project) if isinstance(template, str) else template


def _valid_qualified_name(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not DNS_SUBDOMAIN.match(prefix)):
        return False
    return len(name) <= 63 and bool(LABEL_NAME.match(name))


def _type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean",
            int: "a number", float: "a number", type(None): "empty"}.get(type(value), type(value).__name__)
