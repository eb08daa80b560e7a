"""Spec issuers -> the API server's AuthenticationConfiguration (structured authentication).

One `jwt` entry per issuer: its audience, CEL claimMappings that produce the username and groups of
mapping.py, claimValidationRules that reject tokens of owners/groups the spec does not name (without
them every repository on github.com holding a token for this audience would authenticate as
system:authenticated), and userValidationRules that keep the `system:` prefix out of reach.
Pure: the API server evaluates the CEL; tests compile and evaluate it with cel-python.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import yaml

from ..errors import InputError
from .identities import Issuer
from .mapping import PULL_REQUEST_EVENTS
from .spec import Spec

GROUP = "apiserver.config.k8s.io"
# CEL reserves these; a claim named like one must be read as claims["name"], never claims.name.
CEL_RESERVED = frozenset((
    "as", "break", "const", "continue", "else", "false", "for", "function", "if", "import", "in",
    "let", "loop", "namespace", "null", "package", "return", "true", "var", "void", "while",
))
GITHUB_CLAIMS = ("sub", "repository", "repository_owner", "ref", "event_name", "job_workflow_ref")
GITLAB_CLAIMS = ("project_path", "namespace_path", "ref", "ref_type", "ref_protected")
MIN_VERSION = (1, 30)
V1_SINCE = (1, 34)  # AuthenticationConfiguration went GA (apiserver.config.k8s.io/v1)


def api_version(kubernetes_version: str | None) -> str:
    if not kubernetes_version:
        return f"{GROUP}/v1"
    match = re.fullmatch(r"v?(\d+)\.(\d+)(\.\d+)?", kubernetes_version.strip())
    if not match:
        raise InputError(f"--kubernetes-version {kubernetes_version!r}: write MAJOR.MINOR, e.g. 1.33")
    version = (int(match[1]), int(match[2]))
    if version < MIN_VERSION:
        raise InputError(f"--kubernetes-version {kubernetes_version}: structured authentication "
                         "(--authentication-config) needs Kubernetes 1.30 or newer; older API servers "
                         "only have the single-issuer --oidc-* flags")
    return f"{GROUP}/v1" if version >= V1_SINCE else f"{GROUP}/v1beta1"


def authentication_config(spec: Spec, kubernetes_version: str | None = None) -> dict:
    for i, issuer in enumerate(spec.issuers.values()):
        if issuer.flags:
            raise InputError(f"{spec.path}: issuers[{i}] ({issuer.name}) has authentication: oidc-flags: "
                             "render --format oidc-flags (or eks-identity-provider) instead, or set "
                             "authentication: structured and apply again (its bindings name users, "
                             "not the groups this config maps)")
    doc = {"apiVersion": api_version(kubernetes_version), "kind": "AuthenticationConfiguration",
           "jwt": [jwt_authenticator(i) for i in spec.issuers.values()]}
    check_cel(doc)
    return doc


def jwt_authenticator(issuer: Issuer) -> dict:
    entry: dict = {"issuer": {"url": issuer.url, "audiences": [issuer.audience]}}
    if issuer.certificate_authority:
        entry["issuer"]["certificateAuthority"] = issuer.certificate_authority
    username, groups, rules = (_github(issuer) if issuer.type == "github" else _gitlab(issuer))
    entry["claimValidationRules"] = rules
    entry["claimMappings"] = {"username": {"expression": username}, "groups": {"expression": groups}}
    entry["userValidationRules"] = [
        {"expression": '!user.username.startsWith("system:")',
         "message": "runnerkit: CI identities may not use the system: prefix"},
        {"expression": 'user.groups.all(g, !g.startsWith("system:"))',
         "message": "runnerkit: CI identities may not be in system: groups"},
    ]
    return entry


def claim(name: str) -> str:
    return f"claims[{lit(name)}]" if name in CEL_RESERVED else f"claims.{name}"


def present(name: str) -> str:
    return f"{lit(name)} in claims" if name in CEL_RESERVED else f"has(claims.{name})"


def lit(value: str) -> str:
    # Only validated names reach here (identities.py patterns); refuse anything needing escapes.
    if '"' in value or "\\" in value or "\n" in value:
        raise ValueError(f"not a safe CEL literal: {value!r}")
    return f'"{value}"'


def _list(values: Iterable[str]) -> str:
    return "[" + ", ".join(lit(v) for v in values) + "]"


def _optional(name: str, prefix: str) -> tuple[str, str]:
    """(condition, segment) for a claim that is only present on some jobs (environment)."""
    cond = f'{present(name)} && {claim(name)} != ""'
    return cond, f"{lit(prefix)} + {claim(name)}"


def _no_separator(names: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict:
    parts = [f'!{claim(n)}.contains(":")' for n in names]
    parts += [f'(!{present(n)} || !{claim(n)}.contains(":"))' for n in optional]
    return {"expression": " && ".join(parts),
            "message": "runnerkit: a mapped claim contains ':', the separator of runnerkit usernames"}


def _groups(without: list[str], with_env: list[str], env_cond: str, trust: str) -> str:
    # The trust marker goes on every group: a pull request or an unprotected ref never shares a
    # group with the jobs a binding means.
    sep = ",\n  "
    return (f"(({env_cond})\n ? [{sep.join(without + with_env)}]\n : [{sep.join(without)}]"
            f")\n.map(g, g + {trust})")


def _github(issuer: Issuer) -> tuple[str, str, list[dict]]:
    base = f"{lit(issuer.prefix + 'repo:')} + {claim('repository')}"
    ref = f'":ref:" + {claim("ref")}'
    workflow = f'":workflow:" + {claim("job_workflow_ref")}'
    env_cond, env = _optional("environment", ":environment:")
    trust = (f"({claim('event_name')} in {_list(PULL_REQUEST_EVENTS)} || "
             f'{claim("sub")}.endsWith(":pull_request") ? ":pull_request" : "")')
    without = [base, f"{base} + {ref}", f"{base} + {workflow}", f"{base} + {ref} + {workflow}"]
    with_env = [f"{base} + {env}", f"{base} + {ref} + {env}", f"{base} + {env} + {workflow}",
                f"{base} + {ref} + {env} + {workflow}"]
    groups = _groups(without, with_env, env_cond, trust)
    username = f'{base} + {ref} + (({env_cond}) ? {env} : "") + {workflow} + {trust}'
    rules = [
        {"expression": " && ".join(present(c) for c in GITHUB_CLAIMS),
         "message": "runnerkit: not a GitHub Actions ID token (needs " + ", ".join(GITHUB_CLAIMS) + ")"},
        {"expression": f"{claim('repository_owner')} in {_list(issuer.owners)}",
         "message": f"runnerkit: repository owner not allowed by issuer {issuer.name} "
                    "(issuers[].owners in runnerkit.yaml)"},
        {"expression": f'{claim("repository")}.startsWith({claim("repository_owner")} + "/")',
         "message": "runnerkit: repository does not belong to repository_owner"},
        _no_separator(("repository", "ref", "job_workflow_ref"), ("environment",)),
    ]
    return username, groups, rules


def _gitlab(issuer: Issuer) -> tuple[str, str, list[dict]]:
    base = f"{lit(issuer.prefix + 'project_path:')} + {claim('project_path')}"
    kind = f'":ref_type:" + {claim("ref_type")}'
    ref = f'{kind} + ":ref:" + {claim("ref")}'
    env_cond, env = _optional("environment", ":environment:")
    trust = f'({claim("ref_protected")} == "true" ? ":protected" : ":unprotected")'
    without = [base, f"{base} + {kind}", f"{base} + {ref}"]
    with_env = [f"{g} + {env}" for g in without]
    groups = _groups(without, with_env, env_cond, trust)
    username = f'{base} + {ref} + (({env_cond}) ? {env} : "") + {trust}'
    owners = " || ".join(f"{claim('namespace_path')} == {lit(g)} || "
                         f"{claim('namespace_path')}.startsWith({lit(g + '/')})" for g in issuer.owners)
    rules = [
        {"expression": " && ".join(present(c) for c in GITLAB_CLAIMS),
         "message": "runnerkit: not a GitLab CI ID token (needs " + ", ".join(GITLAB_CLAIMS) + ")"},
        {"expression": owners,
         "message": f"runnerkit: group not allowed by issuer {issuer.name} (issuers[].groups in runnerkit.yaml)"},
        {"expression": f'{claim("project_path")}.startsWith({claim("namespace_path")} + "/")',
         "message": "runnerkit: project_path is not inside namespace_path"},
        {"expression": f'{claim("ref_type")} in ["branch", "tag"] && {claim("ref_protected")} in ["true", "false"]',
         "message": "runnerkit: ref_type must be branch or tag, ref_protected 'true' or 'false'"},
        _no_separator(("project_path", "ref"), ("environment",)),
    ]
    return username, groups, rules


def expressions(doc: dict) -> list[tuple[str, str]]:
    """(where, expression) for every CEL expression in an AuthenticationConfiguration."""
    out = []
    for i, entry in enumerate(doc.get("jwt") or []):
        for j, rule in enumerate(entry.get("claimValidationRules") or []):
            out.append((f"jwt[{i}].claimValidationRules[{j}]", rule["expression"]))
        for key, mapping in (entry.get("claimMappings") or {}).items():
            if "expression" in mapping:
                out.append((f"jwt[{i}].claimMappings.{key}", mapping["expression"]))
        for j, rule in enumerate(entry.get("userValidationRules") or []):
            out.append((f"jwt[{i}].userValidationRules[{j}]", rule["expression"]))
    return out


_MEMBER = re.compile(r"\b(?:claims|user)\.([A-Za-z_][A-Za-z0-9_]*)")


def check_cel(doc: dict) -> None:
    """Refuse CEL that selects a field named like a reserved word (claims.namespace does not parse)."""
    for where, expression in expressions(doc):
        bad = sorted({m for m in _MEMBER.findall(expression) if m in CEL_RESERVED})
        if bad:
            raise AssertionError(f"{where}: CEL selects reserved word(s) {', '.join(bad)}: {expression}")


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    pass


def _block_when_multiline(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _block_when_multiline)


def to_yaml(config: dict) -> str:
    """The config as an admin reads it: CA and long CEL as block literals, fields in API order."""
    return yaml.dump(config, Dumper=_Dumper, sort_keys=False, width=100, default_flow_style=False)
