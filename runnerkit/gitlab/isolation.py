"""Per-tenant isolation on shared GitLab runners: a ValidatingAdmissionPolicy per project.

The overwrite regexes say which namespaces *some* project may use, not *which* project: project
A's pipeline can still set KUBERNETES_NAMESPACE_OVERWRITE to B's namespace. But the runner labels
every job pod with the job's project, in the `runner.gitlab.com` domain that jobs cannot set
(executors/kubernetes buildLabels in gitlab-runner):

    project.runner.gitlab.com/id              the project ID, digits
    project.runner.gitlab.com/namespace       sanitizeLabel(CI_PROJECT_NAMESPACE), e.g. group_subgroup
    project.runner.gitlab.com/root-namespace  sanitizeLabel(CI_PROJECT_ROOT_NAMESPACE), e.g. group

sanitizeLabel maps every character outside [A-Za-z0-9-_.] to '_' (so '/' becomes '_'), trims
'-', '_' and '.' from both ends, and cuts at 63 characters. The policy lets the runner manager's
ServiceAccount create a pod in a tenant namespace only when those labels name one of the tenant's
GitLab projects or groups. Pure CEL in the API server (admissionregistration.k8s.io/v1, Kubernetes
>= 1.30): no webhook to run.
"""

from __future__ import annotations

import re
from typing import Iterable

from ..errors import IsolationUnavailable
from ..model.kinds import ADMISSION
from ..model.objects import PROJECT_LABEL, meta
from ..model.spec import Project, Spec

ID_LABEL = "project.runner.gitlab.com/id"
NAMESPACE_LABEL = "project.runner.gitlab.com/namespace"
ROOT_NAMESPACE_LABEL = "project.runner.gitlab.com/root-namespace"
POLICY_KINDS = ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set on every namespace since 1.21
EXPOSED = ("without it, a pipeline of any project that can use the runner may set "
           "KUBERNETES_NAMESPACE_OVERWRITE/KUBERNETES_SERVICE_ACCOUNT_OVERWRITE to another "
           "project's namespace and ServiceAccount (any name the overwrite regexes allow) and act "
           "with that project's rights")


def sanitize_label(value: str) -> str:
    """gitlab-runner's sanitizeLabel (executors/kubernetes/util.go)."""
    value = re.sub(r"[^A-Za-z0-9\-_.]", "_", value).strip("-_.")
    return value[:63].strip("-_.")


def isolation_projects(spec: Spec) -> list[Project]:
    return [p for p in spec.projects
            if p.runner.type == "gitlab" and (p.gitlab.project_ids or p.gitlab.groups)]


def policy_name(spec_name: str, p: Project) -> str:
    # Cluster-scoped: the spec's name keeps two specs with a project of the same name apart.
    return f"runnerkit-{spec_name}-{p.name}-gitlab-isolation"


def render_isolation(spec: Spec) -> list[dict]:
    objects = []
    for p in isolation_projects(spec):
        name = policy_name(spec.name, p)
        objects.append({"apiVersion": ADMISSION, "kind": "ValidatingAdmissionPolicy",
                        "metadata": meta(spec, p.name, name), "spec": policy_spec(p)})
        objects.append({"apiVersion": ADMISSION, "kind": "ValidatingAdmissionPolicyBinding",
                        "metadata": meta(spec, p.name, name),
                        "spec": {"policyName": name, "validationActions": ["Deny"]}})
    return objects


def manager_username(p: Project) -> str:
    return f"system:serviceaccount:{p.runner.namespace}:{p.runner.service_account}"


def label_variable(name: str, label: str) -> dict:
    return {"name": name,
            "expression": f"has(object.metadata.labels) && '{label}' in object.metadata.labels"
                          f" ? object.metadata.labels['{label}'] : ''"}


def allowed_expression(p: Project) -> str:
    """True when the pod's project labels name one of the project's GitLab projects or groups."""
    terms = []
    if p.gitlab.project_ids:
        terms.append(f"variables.projectId in {_cel_list(str(i) for i in p.gitlab.project_ids)}")
    roots: list[str] = []
    nested: list[str] = []
    for group in p.gitlab.groups:
        path = group.strip("/")
        (nested if "/" in path else roots).append(path)
    if roots:
        # A top-level group covers everything under it; its path has no '/', so the label is exact.
        terms.append(f"variables.rootNamespace in {_cel_list(sanitize_label(r) for r in roots)}")
    for path in nested:
        # A subgroup: projects directly in it. The root must match too, so a look-alike path in
        # another top-level group ('a_b/c' vs 'a/b_c' both label as 'a_b_c') is not enough.
        root = sanitize_label(path.split("/", 1)[0])
        terms.append(f"(variables.rootNamespace == '{root}' && "
                     f"variables.projectNamespace == '{sanitize_label(path)}')")
    return " || ".join(terms)


def policy_spec(p: Project) -> dict:
    wanted = ", ".join([f"project {i}" for i in p.gitlab.project_ids]
                       + [f"group {g.strip('/')}" for g in p.gitlab.groups])
    return {
        "failurePolicy": "Fail",
        "matchConstraints": {
            "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: p.namespace}},
            "resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                               "operations": ["CREATE", "UPDATE"], "resources": ["pods"]}],
        },
        "matchConditions": [{"name": "created-by-the-runner-manager",
                             "expression": f"request.userInfo.username == '{manager_username(p)}'"}],
        "variables": [label_variable("projectId", ID_LABEL),
                      label_variable("projectNamespace", NAMESPACE_LABEL),
                      label_variable("rootNamespace", ROOT_NAMESPACE_LABEL)],
        "validations": [{
            "expression": allowed_expression(p),
            "messageExpression": (
                f"'runnerkit: namespace {p.namespace} takes GitLab Runner jobs only from {wanted}; "
                f"this pod comes from project ' + (variables.projectId == '' ? '(no {ID_LABEL} "
                "label)' : variables.projectId + ' (' + variables.projectNamespace + ')')"),
            "reason": "Forbidden",
        }],
    }


def _cel_list(items: Iterable[str]) -> str:
    return "[" + ", ".join(f"'{i}'" for i in items) + "]"


# -- does the cluster enforce it? ---------------------------------------------------------------

def isolation_gap(objects: list[dict], unserved: Iterable[str]) -> str | None:
    """A warning when the spec asks for isolation the cluster cannot enforce, else None.

    `unserved` is the set of kinds the server does not serve (what apply skipped)."""
    missing = set(unserved) & set(POLICY_KINDS)
    projects = sorted({o["metadata"]["labels"].get(PROJECT_LABEL, o["metadata"]["name"])
                       for o in objects if o["kind"] in missing})
    if not projects:
        return None
    return (f"the cluster does not serve ValidatingAdmissionPolicy ({ADMISSION}, Kubernetes >= 1.30), "
            f"so GitLab project isolation is NOT enforced for {', '.join(projects)}: {EXPOSED}")


def require_isolation(objects: list[dict], unserved: Iterable[str], require: bool) -> str | None:
    """For `runnerkit apply`: the gap message to warn about; raises instead when `require`."""
    gap = isolation_gap(objects, unserved)
    if gap and require:
        raise IsolationUnavailable(gap + "; --require-isolation: nothing was changed")
    return gap

