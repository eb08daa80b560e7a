"""The runner's `config.template.toml`: set the two `*_overwrite_allowed` regexes, touch nothing else.

Pure: text in, text out. tomlkit keeps comments, ordering, quoting and every other key as they were;
only the two values change (or two lines are added next to `namespace =`).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Iterable

import tomlkit
from tomlkit.exceptions import ParseError
from tomlkit.items import AoT, Item, String, Table

from ..errors import InputError, RunnerkitError
from ..model.spec import Runner, Spec

TEMPLATE_KEY = "config.template.toml"
NAMESPACE_KEY = "namespace_overwrite_allowed"
SERVICE_ACCOUNT_KEY = "service_account_overwrite_allowed"
ALLOW_ANY = ".*"
# What the gitlab-runner chart's default `runners.config` holds (chart 0.86).
CHART_NAMESPACE_EXPRESSION = "{{ default .Release.Namespace .Values.runners.jobNamespace }}"

_RE2_META = re.compile(r"([\\.+*?()|\[\]{}^$])")


def anchored_alternation(names: Iterable[str]) -> str:
    """`^(?:a|b)$` matching exactly these names under Go RE2's unanchored MatchString."""
    unique = sorted(set(names))
    if not unique:
        raise InputError("no names to allow: the runner has no projects in the spec")
    return "^(?:" + "|".join(_RE2_META.sub(r"\\\1", n) for n in unique) + ")$"


@dataclass(frozen=True)
class Wanted:
    """The two regexes to write, and what they were built from (for messages)."""

    namespace_regex: str
    service_account_regex: str
    namespaces: tuple[str, ...] = ()
    service_accounts: tuple[str, ...] = ()

    def items(self) -> tuple[tuple[str, str], ...]:
        return (NAMESPACE_KEY, self.namespace_regex), (SERVICE_ACCOUNT_KEY, self.service_account_regex)


def wanted_for(spec: Spec, runner: Runner, allow_any: bool = False) -> Wanted:
    projects = [p for p in spec.projects if p.runner.name == runner.name]
    if not projects:
        raise InputError(f"{spec.path}: runner {runner.name!r} has no projects; add projects with "
                         f"runner: {runner.name} (or defaults.runner) before configuring it")
    namespaces = tuple(sorted({p.namespace for p in projects}))
    accounts = tuple(sorted({p.service_account for p in projects}))
    if allow_any:
        return Wanted(ALLOW_ANY, ALLOW_ANY, namespaces, accounts)
    return Wanted(anchored_alternation(namespaces), anchored_alternation(accounts), namespaces, accounts)


@dataclass
class Edit:
    before: str | None  # None: there was no template
    after: str
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self, label: str) -> str:
        return unified_diff(self.before or "", self.after, label)


def unified_diff(before: str, after: str, label: str) -> str:
    return "".join(difflib.unified_diff(before.splitlines(True), after.splitlines(True),
                                        f"{label} (current)", f"{label} (runnerkit)"))


def minimal_template(namespace: str, wanted: Wanted) -> str:
    """The chart's default template plus the two regexes: what a missing template becomes."""
    return ("[[runners]]\n"
            "  [runners.kubernetes]\n"
            f"    namespace = {_toml_string(namespace)}\n"
            '    image = "alpine"\n'
            f"    {NAMESPACE_KEY} = {_toml_string(wanted.namespace_regex)}\n"
            f"    {SERVICE_ACCOUNT_KEY} = {_toml_string(wanted.service_account_regex)}\n")


def edit_template(text: str | None, wanted: Wanted, where: str, default_namespace: str) -> Edit:
    """Set both regexes in the single `[[runners]]` entry's `[runners.kubernetes]` table.

    `where` names the source in messages; `default_namespace` goes into a template created from
    nothing. Raises InputError (nothing written) for TOML the runner would reject as well."""
    if text is None or not text.strip():
        after = minimal_template(default_namespace, wanted)
        what = "has no template" if text is None else "has an empty template"
        return Edit(text, after, [f"{where} {what}: created a minimal one (the chart's default: "
                                  f"namespace {default_namespace}, image alpine) with the two regexes"])
    doc = parse(text, where)
    entry = single_runner(doc, where)
    executor = entry.get("executor")
    if executor is not None and str(executor) != "kubernetes":
        raise InputError(f"{where}: [[runners]] executor = {str(executor)!r}; the overwrite settings "
                         "only exist for the kubernetes executor; set executor = \"kubernetes\" or "
                         "pick the right runner")
    kube = entry.get("kubernetes")
    if kube is None:
        # Appended as text: tomlkit would format a new super-table in its own style.
        after = text + ("" if text.endswith("\n") else "\n") + _kubernetes_table(text, wanted)
        _check(after, wanted, where)
        return Edit(text, after, [f"{where}: added a [runners.kubernetes] table"])
    if not isinstance(kube, Table):
        raise InputError(f"{where}: runners.kubernetes must be a table ([runners.kubernetes]), "
                         f"not {type(kube).__name__}; fix the template")
    for key, value in wanted.items():
        _set(kube, key, value)
    after = tomlkit.dumps(doc)
    _check(after, wanted, where)
    return Edit(text, after)


def parse(text: str, where: str) -> tomlkit.TOMLDocument:
    try:
        return tomlkit.parse(text)
    except ParseError as e:
        raise InputError(f"{where}: not valid TOML at line {e.line}, column {e.col + 1}: "
                         f"{_parse_problem(e)}; fix it and run again (nothing was written)") from None


def single_runner(doc: tomlkit.TOMLDocument, where: str) -> Table:
    runners = doc.get("runners")
    entries = runners if isinstance(runners, (AoT, list)) else []
    count = len(entries)
    if count != 1 or not isinstance(entries[0], Table):
        raise InputError(f"{where}: has {count} [[runners]] entries; the runner accepts exactly one in "
                         "its template (one per Helm release): "
                         + ("add a [[runners]] section" if count == 0 else "keep one, move the others "
                            "to their own runner release") + " (nothing was written)")
    return entries[0]


def _set(kube: Table, key: str, value: str) -> None:
    old = kube.value.item(key) if key in kube else None
    if old is not None and str(old) == value:
        return
    was_literal = isinstance(old, String) and old.type.is_literal()
    new = tomlkit.string(value, literal=("\\" in value or was_literal) and "'" not in value)
    if isinstance(old, Item):
        trivia = old.trivia
        new.trivia.indent, new.trivia.comment_ws = trivia.indent, trivia.comment_ws
        new.trivia.comment, new.trivia.trail = trivia.comment, trivia.trail
        kube[key] = new
        return
    plain = [k.key for k, item in kube.value.body
             if k is not None and not isinstance(item, (Table, AoT))]
    new.trivia.indent = _sibling_indent(kube)
    anchors = (NAMESPACE_KEY, "namespace") if key == SERVICE_ACCOUNT_KEY else ("namespace",)
    anchor = next((k for k in anchors if k in plain), plain[-1] if plain else None)
    if anchor is not None:
        kube.value._insert_after(anchor, key, new)
    elif kube.value.body:  # only sub-tables: plain keys must come before them
        kube.value._insert_at(0, key, new)
    else:
        kube.append(key, new)


def _kubernetes_table(text: str, wanted: Wanted) -> str:
    header = re.search(r"^([ \t]*)\[\[\s*runners\s*\]\]", text, re.M)
    indent = (header.group(1) if header else "") + "  "
    return (f"{indent}[runners.kubernetes]\n"
            + "".join(f"{indent}  {key} = {_toml_string(value)}\n" for key, value in wanted.items()))


def _sibling_indent(kube: Table) -> str:
    for k, item in kube.value.body:
        if k is not None and not isinstance(item, (Table, AoT)):
            return item.trivia.indent
    return kube.trivia.indent + "  "


def _toml_string(value: str) -> str:
    if "\\" in value and "'" not in value:
        return f"'{value}'"
    return tomlkit.string(value).as_string()


def _parse_problem(e: ParseError) -> str:
    message = str(e)
    if "'\\x00'" in message:
        return "unexpected end of the template (an unclosed bracket or quote?)"
    return message.split(" at line ")[0] if " at line " in message else message


def _check(after: str, wanted: Wanted, where: str) -> None:
    """The edit must parse and say what we meant; anything else is a bug, never written."""
    try:
        doc = tomlkit.parse(after).unwrap()
        kube = doc["runners"][0]["kubernetes"]
        ok = len(doc["runners"]) == 1 and all(kube.get(k) == v for k, v in wanted.items())
    except Exception as e:  # noqa: BLE001
        raise RunnerkitError(f"{where}: internal error, the edited template does not parse ({e}); "
                             "nothing was written, please report this") from None
    if not ok:
        raise RunnerkitError(f"{where}: internal error, the edited template does not hold the "
                             "regexes; nothing was written, please report this")
