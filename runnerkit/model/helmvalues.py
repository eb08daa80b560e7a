"""runnerkit.yaml -> values for the runnerkit-tenants Helm chart (`runnerkit export chart DIR` writes it out).

The chart's values are runnerkit.yaml's own `runners:`, `defaults:` and `projects:`, as written
(defaults unexpanded, presets by name), plus `specName` for metadata.name; the chart resolves them
the way runnerkit/spec.py does. So a team can move either way by copying those three keys, and
`helm template` with these values produces the objects `runnerkit render` does.
"""

from __future__ import annotations

from typing import Any

import yaml

from . import validate
from ..errors import InputError
from .spec import Spec

SPEC_KEYS = ("runners", "defaults", "projects")


def values_from_document(document: dict) -> dict:
    """The chart values for a runnerkit.yaml document (already parsed; not validated here)."""
    values: dict[str, Any] = {"specName": (document.get("metadata") or {}).get("name", "")}
    for key in SPEC_KEYS:
        fallback: Any = {} if key == "defaults" else []
        value = document.get(key)
        values[key] = fallback if value is None else value
    return values


def to_helm_values(spec: Spec) -> dict:
    """Values for a validated spec, from the document it was parsed from."""
    if spec.issuers:
        raise InputError(f"{spec.path}: the runnerkit-tenants chart does not render CI identities "
                         "(issuers:, identities:) yet; use `runnerkit render` or `runnerkit apply`")
    return values_from_document(spec.document)


def loads(text: str, filename: str = "runnerkit.yaml") -> dict:
    """Validate runnerkit.yaml text exactly like `runnerkit validate`, then convert it."""
    return to_helm_values(validate.loads(text, filename))  # raises SpecError (exit 2) on any problem


class _Dumper(yaml.SafeDumper):
    """Lists indented under their key, as hand-written values files have them."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)


def to_yaml(values: dict, source: str = "") -> str:
    head = ("# Values for the runnerkit-tenants Helm chart"
            + (f" from {source}" if source else "")
            + ": runnerkit render --format helm-values\n"
            "# runnerkit export chart ./runnerkit-tenants   # the chart ships with runnerkit\n"
            "# helm upgrade --install RELEASE ./runnerkit-tenants -f THIS_FILE\n")
    return head + yaml.dump(values, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                            allow_unicode=True)
