"""Audit findings as values: a Check (what is risky, why, how to fix it) and a Finding (where it was
seen). Pure; the RBAC rules (diagnose/audit.py) and the GitLab Runner rules (gitlab/audit_rules.py)
both build findings here, so neither imports the other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

CRITICAL, HIGH, MEDIUM, INFO = "CRITICAL", "HIGH", "MEDIUM", "INFO"
SEVERITIES = (CRITICAL, HIGH, MEDIUM, INFO)  # INFO never fails --fail-on
RANK = {s: i for i, s in enumerate(SEVERITIES)}


@dataclass(frozen=True)
class Check:
    id: str
    severity: str
    title: str
    why: str
    fix: str  # may use {binding}, {role}, {subject}


@dataclass(frozen=True, order=True)
class Finding:
    rank: int
    check: str
    subject: str
    binding: str
    severity: str
    role: str = ""
    rule: str = ""
    namespace: str | None = None
    detail: str = ""
    about: Check | None = field(default=None, compare=False, repr=False)
    managedBy: str = ""  # the runnerkit spec that renders the binding: fix the spec, not the binding

    @property
    def why(self) -> str:
        assert self.about is not None
        return self.about.why + (f" ({self.detail})" if self.detail else "")

    @property
    def fix(self) -> str:
        assert self.about is not None
        if self.managedBy:
            return (f"managed by runnerkit spec {self.managedBy!r}: change the spec, not the binding (the "
                    "next `runnerkit apply` undoes a hand edit): for a runner manager, fix the runner's "
                    "release/namespace/serviceAccount or install the runner; for a project, its access:; "
                    "then `runnerkit apply --prune`")
        return self.about.fix.format(binding=self.binding or "it", role=self.role or "the role",
                                     subject=self.subject)

    def to_dict(self) -> dict:
        assert self.about is not None
        out = asdict(self)
        del out["rank"], out["about"]
        out.update(title=self.about.title, why=self.why, fix=self.fix)
        return out


def make_finding(check: Check, subject: str, binding: str = "", role: str = "", rule: str = "",
                 namespace: str | None = None, detail: str = "", severity: str | None = None) -> Finding:
    severity = severity or check.severity
    return Finding(RANK[severity], check.id, subject, binding, severity, role, rule, namespace, detail, check)
