"""apply, diff and delete results as text: one line per object, the counts, the notes."""

from __future__ import annotations

from .apply import ApplyResult


def text(result: ApplyResult) -> str:
    suffix = f" ({result.strategy} dry run)" if result.dry_run else ""
    lines = [f"{change.display} {change.action}{suffix}" for change in result.changes]
    counts = ", ".join(f"{n} {action}" for action, n in result.counts().items()) or "nothing declared"
    lines.append(f"{counts}; {result.writes} writes, {result.requests} requests"
                 + ("; dry run: nothing was changed" if result.dry_run else ""))
    lines += [f"note: {note}" for note in result.notes]
    return "\n".join(lines) + "\n"
