"""Edit `runners.config` inside a gitlab-runner Helm values file, keeping every other byte.

The YAML is never re-dumped: PyYAML only locates the scalar, the new TOML is spliced in as a
literal block at the same indentation, and the result is re-parsed to prove that nothing but
`runners.config` changed.
"""

from __future__ import annotations

from typing import Any

import yaml

from ..errors import InputError, RunnerkitError
from ..model.yamlsrc import check_tree
from .template import CHART_NAMESPACE_EXPRESSION, Edit, Wanted, edit_template

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def edit_values(text: str, wanted: Wanted, filename: str) -> tuple[str, Edit]:
    """Returns the new file text and the TOML edit (before/after of `runners.config`)."""
    try:
        root = yaml.compose(text, Loader=_Loader)
        check_tree(root, filename)
        data = yaml.load(text, Loader=_Loader)
    except RecursionError:
        raise InputError(f"{filename}: nested too deeply to read; is it the right file?") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise InputError(f"{filename}:{mark.line + 1 if mark else 1}: not valid YAML: "
                         f"{getattr(e, 'problem', None) or e}; fix the syntax") from None
    if root is None:
        root, data = None, {}
    if root is not None and not isinstance(root, yaml.MappingNode):
        raise InputError(f"{filename}: a Helm values file must be a mapping at the top level")
    runners_key, runners = _child(root, "runners")
    if runners is not None and not (_is_empty(runners) or isinstance(runners, yaml.MappingNode)
                                    and (runners.flow_style is False or not runners.value)):
        raise InputError(f"{filename}:{runners.start_mark.line + 1}: runners must be a block mapping "
                         "(`runners:` with `config: |` indented under it) for runnerkit to edit it; "
                         "rewrite it as one")
    config_key, config = _child(runners, "config") if isinstance(runners, yaml.MappingNode) else (None, None)

    current = None
    if config is not None:
        if not (isinstance(config, yaml.ScalarNode) and config.tag.endswith(":str") or _is_empty(config)):
            raise InputError(f"{filename}:{config.start_mark.line + 1}: runners.config must be a string "
                             "holding the runner's TOML template")
        current = config.value if isinstance(config, yaml.ScalarNode) else ""
    where = f"{filename}: runners.config"
    try:
        edit = edit_template(current, wanted, where, CHART_NAMESPACE_EXPRESSION)
    except InputError as e:
        raise InputError(_with_file_line(str(e), config)) from None
    if not edit.changed:
        return text, edit

    if config is not None:
        assert config_key is not None and isinstance(config, yaml.ScalarNode)  # _child and the check above
        new_text = _replace_scalar(text, config_key, config, edit.after)
    elif runners is not None and isinstance(runners, yaml.MappingNode) and runners.value:
        new_text = _insert_config(text, runners, edit.after)
    elif runners is not None:
        assert runners_key is not None  # _child returns both or neither
        new_text = _replace_empty_runners(text, runners_key, runners, edit.after)
    else:
        new_text = text + ("" if not text or text.endswith("\n") else "\n") + "runners:\n" + \
            literal_block("  config: ", edit.after, 4)
    _verify(data, new_text, edit.after, filename)
    return new_text, edit


def _child(node: yaml.Node | None, key: str) -> tuple[yaml.Node | None, yaml.Node | None]:
    if not isinstance(node, yaml.MappingNode):
        return None, None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return k, v
    return None, None


def _is_empty(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")


def _header(toml: str) -> str:
    """The literal-block indicator whose chomping gives back exactly this many trailing newlines."""
    return "|" + _needed_chomp(toml)


def _body(toml: str, indent: int) -> str:
    trailing = len(toml) - len(toml.rstrip("\n"))
    pad = " " * indent
    lines = toml.rstrip("\n").split("\n")
    return "".join((pad + line if line else "") + "\n" for line in lines) + "\n" * max(trailing - 1, 0)


def literal_block(prefix: str, toml: str, indent: int) -> str:
    return f"{prefix}{_header(toml)}\n{_body(toml, indent)}"


def _replace_scalar(text: str, key: yaml.Node, node: yaml.ScalarNode, toml: str) -> str:
    start, end = node.start_mark.index, node.end_mark.index
    indent = key.start_mark.column + 2
    if node.style in ("|", ">"):
        header_end = _line_end(text, start)
        # Blank lines after a clipped/stripped block are inside the node's span but belong to the file.
        last = _last_content_line_end(text, header_end, end)
        header = text[start:header_end]
        if node.style == "|" and _header_chomp(header) == _needed_chomp(toml) and "+" not in header:
            # Same kind of block: keep its header line (indicator, comment) and its indentation.
            indent = _content_indent(text, header_end, end) or indent
            return text[:header_end] + _body(toml, indent) + text[last:]
        return text[:start] + _header(toml) + "\n" + _body(toml, indent) + text[last:]
    # A quoted or plain scalar becomes a literal block; a comment after it stays on the header line.
    line_end = _line_end(text, end)
    rest = text[end:line_end].rstrip("\n")
    return text[:start] + _header(toml) + rest + "\n" + _body(toml, indent) + text[line_end:]


def _insert_config(text: str, runners: yaml.MappingNode, toml: str) -> str:
    first_key = runners.value[0][0]
    indent = first_key.start_mark.column
    at = _line_start(text, first_key.start_mark.index)
    return text[:at] + literal_block(" " * indent + "config: ", toml, indent + 2) + text[at:]


def _replace_empty_runners(text: str, key: yaml.Node, node: yaml.Node, toml: str) -> str:
    """`runners:`, `runners: ~` or `runners: {}` -> `runners:` with a config block under it."""
    line_end = _line_end(text, max(key.end_mark.index, node.end_mark.index))
    if node.end_mark.index > node.start_mark.index:  # an explicit value: drop it, keep any comment
        head = text[:node.start_mark.index].rstrip(" ") + text[node.end_mark.index:line_end].rstrip("\n")
    else:
        head = text[:line_end].rstrip("\n")
    column = key.start_mark.column
    return head + "\n" + literal_block(" " * (column + 2) + "config: ", toml, column + 4) + text[line_end:]


def _line_end(text: str, index: int) -> int:
    """Index just past the newline that ends the line holding `index`."""
    nl = text.find("\n", index)
    return len(text) if nl < 0 else nl + 1


def _line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def _content_indent(text: str, start: int, end: int) -> int:
    for line in text[start:end].split("\n"):
        if line.strip():
            return len(line) - len(line.lstrip(" "))
    return 0


def _last_content_line_end(text: str, start: int, end: int) -> int:
    last = start
    pos = start
    while pos < end:
        nxt = _line_end(text, pos)
        if text[pos:nxt].strip():
            last = nxt
        pos = nxt
    return last


def _header_chomp(header: str) -> str:
    head = header.split("#", 1)[0]
    return "-" if "-" in head else ("+" if "+" in head else "")


def _needed_chomp(toml: str) -> str:
    trailing = len(toml) - len(toml.rstrip("\n"))
    return "-" if trailing == 0 else ("" if trailing == 1 else "+")


def _with_file_line(message: str, config: yaml.Node | None) -> str:
    """TOML errors say `line N` of the template; add the values-file line for block scalars."""
    if config is None or getattr(config, "style", None) != "|" or " at line " not in message:
        return message
    try:
        toml_line = int(message.split(" at line ", 1)[1].split(",", 1)[0])
    except ValueError:
        return message
    return message.replace(f" at line {toml_line},",
                           f" at line {toml_line} (file line {config.start_mark.line + 1 + toml_line}),", 1)


def _verify(before: Any, new_text: str, toml: str, filename: str) -> None:
    """Everything but runners.config must load exactly as before; otherwise it is a bug."""
    try:
        after = yaml.load(new_text, Loader=_Loader)
    except yaml.YAMLError as e:
        raise RunnerkitError(f"{filename}: internal error, the edit broke the YAML ({e}); nothing was "
                             "written, please report this") from None
    expected = dict(before or {})
    runners = dict(expected.get("runners") or {})
    runners["config"] = toml
    expected["runners"] = runners
    if after != expected:
        raise RunnerkitError(f"{filename}: internal error, the edit changed more than runners.config; "
                             "nothing was written, please report this")
