"""How an audit report is shown: a table with a why/fix legend, JSON, or SARIF 2.1.0. Pure."""

from __future__ import annotations

from .. import __version__
from ..model.findings import CRITICAL, HIGH, INFO, RANK, Finding
from .audit import CHECKS, AuditReport

SARIF_LEVEL = {CRITICAL: "error", HIGH: "error", INFO: "note"}
SECURITY_SEVERITY = {CRITICAL: "9.5", HIGH: "8.0"}  # GitHub code scanning's numeric scale


def summary(report: AuditReport) -> str:
    n = len(report.findings)
    by: dict[str, int] = {}
    for f in report.findings:
        by[f.severity] = by.get(f.severity, 0) + 1
    parts = ", ".join(f"{count} {sev.lower()}" for sev, count in by.items())
    scanned = ", ".join(f"{count} {kind}" for kind, count in report.counts.items())
    head = f"{n} finding{'s' if n != 1 else ''}" + (f" ({parts})" if parts else "")
    oidc = f"; OIDC issuers: {', '.join(report.oidc_issuers)}" if report.oidc_issuers else ""
    return f"{head}; audited {scanned}{oidc}"


def _where(f: Finding) -> str:
    return f.binding or f.subject


def table(report: AuditReport) -> str:
    if not report.findings:
        return "no findings\n" + summary(report) + "\n"
    rows = [("SEVERITY", "CHECK", "SUBJECT", "BINDING", "RULE")]
    for f in report.findings:
        rule = f"{f.role}: {f.rule}" if f.role and f.rule else (f.rule or f.role)
        rows.append((f.severity, f.check, f.subject, f.binding or "-", rule))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4] for row in rows]
    lines.append("")
    for check in dict.fromkeys(f.check for f in report.findings):
        c = CHECKS[check]
        severities = sorted({f.severity for f in report.findings if f.check == check}, key=RANK.__getitem__)
        lines.append(f"{check} ({', '.join(severities)}): {c.title}")
        lines.append(f"  why: {c.why}")
        lines.append(f"  fix: {c.fix.format(binding='the binding', role='the role', subject='the subject')}")
    managed = {f.binding: f for f in report.findings if f.managedBy}
    if managed:
        lines.append("")
        lines.append("runnerkit-managed bindings: deleting or editing them by hand is undone by the next apply")
        lines += [f"  {binding}: {f.fix}" for binding, f in managed.items()]
    lines.append("")
    lines.append(summary(report))
    return "\n".join(lines) + "\n"


def to_json(report: AuditReport) -> dict:
    return {"findings": [f.to_dict() for f in report.findings],
            "runnerNamespaces": report.runner_namespaces,
            "audited": report.counts,
            "summary": summary(report)}


def _uri(f: Finding) -> str:
    # SARIF wants a file; a cluster object's kind/namespace/name is the nearest thing to one.
    if f.binding:  # "RoleBinding/NAME -n NS" or "ClusterRoleBinding/NAME"
        kind_name, _, ns = f.binding.partition(" -n ")
        kind, _, name = kind_name.partition("/")
    else:  # "ConfigMap NS/NAME"
        kind, _, ns_name = f.subject.partition(" ")
        ns, _, name = ns_name.partition("/")
    return "cluster/" + "/".join(p for p in (kind, ns, name) if p)


def to_sarif(report: AuditReport) -> dict:
    rules = [{"id": c.id, "name": c.id, "shortDescription": {"text": c.title},
              "fullDescription": {"text": c.why},
              "help": {"text": c.fix.format(binding="the binding", role="the role", subject="the subject")},
              "defaultConfiguration": {"level": SARIF_LEVEL.get(c.severity, "warning")},
              "properties": {"security-severity": SECURITY_SEVERITY.get(c.severity, "5.0"),
                             "tags": ["security", "rbac"], "severity": c.severity}}
             for c in CHECKS.values()]
    results = []
    for f in report.findings:
        results.append({
            "ruleId": f.check,
            "level": SARIF_LEVEL.get(f.severity, "warning"),
            "message": {"text": f"{f.subject}: {CHECKS[f.check].title} via {_where(f)}"
                                + (f" ({f.role}: {f.rule})" if f.rule else "") + f". Fix: {f.fix}"},
            "locations": [{
                "physicalLocation": {"artifactLocation": {"uri": _uri(f)}, "region": {"startLine": 1}},
                "logicalLocations": [{"fullyQualifiedName": _where(f), "kind": "resource"}],
            }],
            "partialFingerprints": {"runnerkit/v1": f"{f.check}|{f.subject}|{_where(f)}|{f.rule}"},
        })
    return {"$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0",
            "runs": [{"tool": {"driver": {"name": "runnerkit", "version": __version__,
                                          "informationUri": "https://github.com/runnerkit/runnerkit",
                                          "rules": rules}},
                      "results": results}]}
