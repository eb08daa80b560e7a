"""`runnerkit doctor` as text: the checks grouped by section in reading order, each with its fix."""

from __future__ import annotations

from .doctor import DoctorReport
from .doctor_rules import FAIL, MARK

SECTIONS = {"pod": "Pod ServiceAccount", "credentials": "Credentials", "connection": "Connection",
            "identity": "Identity", "namespace": "Namespace", "needs": "Needs", "access": "Access"}


def text(report: DoctorReport) -> str:
    lines: list[str] = []
    section = None
    for r in report.ordered():
        if r.section != section:
            section = r.section
            lines.append(SECTIONS.get(section, section))
        lines.append(f"  {MARK[r.status]} {r.message}")
        if r.fix:
            lines.append(f"      fix: {r.fix}")
        lines += [f"      {line}" for line in r.details]
    failed = sum(r.status == FAIL for r in report.results)
    lines += ["", "doctor: all checks passed" if report.ok
              else f"doctor: {failed} check{'s' if failed != 1 else ''} failed"]
    return "\n".join(lines) + "\n"
