"""runnerkit completion bash|zsh|fish: shell completion generated from the argparse tree itself,
so it never lags behind the commands (no extra dependency)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field

from .common import prose

FILE_HINTS = ("file", "kubeconfig", "spec", "values", "to", "dir", "template")


@dataclass
class Node:
    """One parser of the tree: its subcommands, its options, and the values some options take."""
    path: tuple[str, ...]
    commands: dict[str, str] = field(default_factory=dict)      # name -> help
    options: dict[str, str] = field(default_factory=dict)       # --flag -> help
    choices: dict[str, list[str]] = field(default_factory=dict) # --flag -> values
    files: list[str] = field(default_factory=list)              # flags that take a path
    takes_value: list[str] = field(default_factory=list)


def walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[Node]:
    node, nodes = Node(path), []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, child in action.choices.items():
                node.commands[name] = helps.get(name, "")
                nodes += walk(child, path + (name,))
            continue
        for flag in action.option_strings:
            node.options[flag] = action.help if action.help not in (None, argparse.SUPPRESS) else ""
            if action.nargs != 0:
                node.takes_value.append(flag)
                if action.choices:
                    node.choices[flag] = [str(c) for c in action.choices]
                elif any(h in action.dest for h in FILE_HINTS):
                    node.files.append(flag)
    return [node] + nodes


def bash(nodes: list[Node]) -> str:
    cases = []
    for n in nodes:
        key = " ".join(n.path)
        words = " ".join(list(n.commands) + list(n.options))
        values = "".join(f"      {flag}) COMPREPLY=($(compgen -W '{' '.join(vals)}' -- \"$cur\")); return ;;\n"
                         for flag, vals in n.choices.items())
        files = "|".join(n.files)
        if files:
            values += f"      {files}) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n"
        others = "|".join(f for f in n.takes_value if f not in n.choices and f not in n.files)
        if others:
            values += f"      {others}) return ;;\n"
        subs = " ".join(n.commands)
        cases.append(f"    '{key}')\n      subs='{subs}'\n      case \"$prev\" in\n{values}      esac\n"
                     f"      words='{words}' ;;\n")
    return f"""# runnerkit completion for bash: source <(runnerkit completion bash)
_runnerkit() {{
  local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}" path="" subs words i w
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="${{COMP_WORDS[i]}}"
    subs=$(_runnerkit_subs "$path")
    if [[ " $subs " == *" $w "* ]]; then path="${{path:+$path }}$w"; fi
  done
  case "$path" in
{''.join(cases)}  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
  elif [[ -n "$subs" ]]; then
    COMPREPLY=($(compgen -W "$subs" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}}
_runnerkit_subs() {{
  case "$1" in
{''.join(f"    '{' '.join(n.path)}') echo '{' '.join(n.commands)}' ;;{chr(10)}" for n in nodes if n.commands)}  esac
}}
complete -o filenames -F _runnerkit runnerkit kubectl-runnerkit
"""


def zsh(nodes: list[Node]) -> str:
    return ("#compdef runnerkit kubectl-runnerkit\n"
            "# runnerkit completion for zsh: source <(runnerkit completion zsh)\n"
            "autoload -U +X bashcompinit && bashcompinit\n" + bash(nodes).split("\n", 1)[1])


def fish(nodes: list[Node]) -> str:
    def quote(text: str) -> str:
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"

    lines = ["# runnerkit completion for fish: runnerkit completion fish | source",
             "function __runnerkit_path",
             "    set -l words (commandline -opc)",
             "    set -l path",
             "    for w in $words[2..-1]",
             "        if contains -- $w (__runnerkit_subs (string join ' ' $path))",
             "            set path $path $w",
             "        end",
             "    end",
             "    string join ' ' $path",
             "end",
             "function __runnerkit_subs",
             "    switch \"$argv\""]
    for n in nodes:
        if n.commands:
            lines += [f"        case {quote(' '.join(n.path))}", f"            echo {' '.join(n.commands)} | string split ' '"]
    lines += ["    end", "end", "complete -c runnerkit -f"]
    for n in nodes:
        cond = f"-n {quote('test (__runnerkit_path) = ' + quote(' '.join(n.path)))}"
        for name, help_text in n.commands.items():
            lines.append(f"complete -c runnerkit {cond} -a {name} -d {quote(help_text[:60])}")
        for flag, help_text in n.options.items():
            spec = f"-l {flag[2:]}" if flag.startswith("--") else f"-s {flag[1:]}"
            extra = ""
            if flag in n.choices:
                extra = f" -x -a {quote(' '.join(n.choices[flag]))}"
            elif flag in n.files:
                extra = " -r -F"
            elif flag in n.takes_value:
                extra = " -x"
            lines.append(f"complete -c runnerkit {cond} {spec}{extra} -d {quote((help_text or '')[:60])}")
    return "\n".join(lines) + "\n"


SHELLS = {"bash": bash, "zsh": zsh, "fish": fish}


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "completion", help="print a shell completion script (bash, zsh, fish)",
        description=prose("Print the completion script for a shell; it completes commands, flags and "
                          "their values (e.g. -o formats, --dry-run strategies)."),
        epilog="examples:\n"
               "  source <(runnerkit completion bash)            # in ~/.bashrc\n"
               "  source <(runnerkit completion zsh)             # in ~/.zshrc\n"
               "  runnerkit completion fish > ~/.config/fish/completions/runnerkit.fish",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("shell", choices=sorted(SHELLS), metavar="SHELL", help="bash, zsh or fish")
    p.set_defaults(func=cmd_completion)


def cmd_completion(args: argparse.Namespace) -> int:
    from . import build_parser

    sys.stdout.write(SHELLS[args.shell](walk(build_parser())))
    return 0
