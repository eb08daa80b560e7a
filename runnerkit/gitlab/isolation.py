"""Per-tenant isolation on shared GitLab runners (ValidatingAdmissionPolicy)."""

from __future__ import annotations

from ..spec import Spec


def render_isolation(spec: Spec) -> list[dict]:
    return []
