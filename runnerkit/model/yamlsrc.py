"""YAML parsing that remembers where every value came from (file:line) and refuses aliases."""

from __future__ import annotations

from typing import Any

import yaml

from ..errors import InputError
from .limits import MAX_YAML_DEPTH

Path = tuple  # ("projects", 2, "namespace")

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_constructor = yaml.constructor.SafeConstructor()


class Located:
    """Parsed YAML data plus the line of every value, addressed by its path."""

    def __init__(self, filename: str, data: Any, lines: dict[Path, int]):
        self.filename = filename
        self.data = data
        self.lines = lines

    def line(self, path: Path) -> int:
        # A missing key has no line of its own: report its closest parent.
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)

    def where(self, path: Path) -> str:
        return f"{self.filename}:{self.line(path)}"


def format_path(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


SPEC_HINTS = ("start from `runnerkit init`", "write the value out (use `defaults:` to share settings)")


def parse(text: str, filename: str, hints: tuple[str, str] = SPEC_HINTS) -> Located:
    """`hints`: the fix for an empty file and for an anchor or alias, for the kind of file read."""
    empty_hint, alias_hint = hints
    try:
        root = yaml.compose(text, Loader=_Loader)
    except RecursionError:
        raise InputError(f"{filename}:1: nested too deeply to read; is it the right file?") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise InputError(f"{filename}:{line}: not valid YAML: {problem}; fix the syntax") from None
    if root is None:
        raise InputError(f"{filename}:1: the file is empty; {empty_hint}")
    lines: dict[Path, int] = {}
    seen: set[int] = set()

    def build(node: yaml.Node, path: Path) -> Any:
        if len(path) > MAX_YAML_DEPTH:
            raise InputError(f"{filename}:{node.start_mark.line + 1}: nested more than {MAX_YAML_DEPTH} "
                             "levels deep; runnerkit files are a few levels deep, is it the right file?")
        # Composed aliases are the very same node object; refusing them stops alias bombs cold.
        if id(node) in seen:
            raise InputError(
                f"{filename}:{node.start_mark.line + 1}: {format_path(path)}: YAML anchors and aliases "
                f"are not supported; {alias_hint}"
            )
        seen.add(id(node))
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            out: dict = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    raise InputError(
                        f"{filename}:{key_node.start_mark.line + 1}: {format_path(path)}: "
                        "only plain keys are allowed (no merge keys or complex keys)"
                    )
                key = _constructor.construct_object(key_node)
                if key in out:
                    raise InputError(
                        f"{filename}:{key_node.start_mark.line + 1}: {format_path(path + (key,))} "
                        "is given twice; keep one"
                    )
                out[key] = build(value_node, path + (key,))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [build(item, path + (i,)) for i, item in enumerate(node.value)]
        return _constructor.construct_object(node)

    try:
        return Located(filename, build(root, ()), lines)
    except yaml.constructor.ConstructorError as e:  # a tag the safe loader has no type for (`=`, !!python/...)
        mark = e.problem_mark or e.context_mark
        raise InputError(f"{filename}:{mark.line + 1 if mark else 1}: not valid here: {e.problem}; "
                         "write plain YAML values") from None


def check_tree(root: yaml.Node | None, filename: str) -> None:
    """Refuse aliases (an alias bomb expands exponentially) and absurd nesting in a composed YAML
    tree that is read with another loader (Helm values); iterative, so depth cannot overflow."""
    seen: set[int] = set()
    stack = [(root, 0)] if root is not None else []
    while stack:
        node, depth = stack.pop()
        line = node.start_mark.line + 1
        if id(node) in seen:
            raise InputError(f"{filename}:{line}: YAML anchors and aliases are not supported here; write "
                             "the value out")
        seen.add(id(node))
        if depth > MAX_YAML_DEPTH:
            raise InputError(f"{filename}:{line}: nested more than {MAX_YAML_DEPTH} levels deep; is it the "
                             "right file?")
        if isinstance(node, yaml.MappingNode):
            stack.extend((n, depth + 1) for pair in node.value for n in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((n, depth + 1) for n in node.value)
