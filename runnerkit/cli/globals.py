"""Global flags accepted before or after the subcommand, like kubectl's:
`runnerkit --kubeconfig X apply` and `runnerkit apply --kubeconfig X` mean the same.

The top-level parser holds the defaults; subcommand parsers declare the same flags with
default=SUPPRESS, so that a flag given before the subcommand is not overwritten by a subparser's
default (argparse copies every subparser default over the top-level namespace)."""

from __future__ import annotations

import argparse
from typing import Iterator

STRUCTURED = ("json", "yaml")


def add_top_level(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("global options (also accepted after the subcommand)")
    g.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, "
                                                      "then the pod's in-cluster ServiceAccount)")
    g.add_argument("--context", default=None, help="kubeconfig context to use (default: the current context)")
    g.add_argument("-o", "--output", default=None, metavar="FORMAT",
                   help="output format of the command: text, json or yaml (see the command's --help)")
    g.add_argument("--debug", action="store_true", default=False,
                   help="show tracebacks for errors (secrets masked)")


def add_output(p: argparse.ArgumentParser, choices: tuple[str, ...], default: str) -> None:
    """-o for a reporting command; every command that prints JSON prints YAML as well."""
    if "json" in choices and "yaml" not in choices:
        choices = (*choices, "yaml")
    p.add_argument("-o", "--output", choices=choices, default=argparse.SUPPRESS,
                   help=f"output format: {', '.join(choices)} (default: {default})")
    p.set_defaults(output_choices=choices, output_default=default)


def leaves(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """Every parser of the tree that runs a command."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield parser
    for action in subs:
        for child in dict.fromkeys(action.choices.values()):  # aliases map to the same parser
            yield from leaves(child)


def add_debug_everywhere(parser: argparse.ArgumentParser) -> None:
    for leaf in leaves(parser):
        leaf.set_defaults(command_prog=leaf.prog)
        if "--debug" not in leaf._option_string_actions:
            leaf.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                              help="show tracebacks for errors (secrets masked)")


def resolve_output(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """-o given before the subcommand is checked against the subcommand's formats here."""
    choices = getattr(args, "output_choices", None)
    if choices is None:
        if args.output is not None:
            parser.error(f"-o/--output: `{args.command_prog}` has no output formats")
        return
    if args.output is None:
        args.output = args.output_default
    elif args.output not in choices:
        parser.error(f"argument -o/--output: invalid choice: {args.output!r} (choose from "
                     f"{', '.join(choices)})")



# -- --dry-run[=none|client|server] ---------------------------------------------------------------

DRY_RUN_COMMANDS = ("apply", "delete")
_TOP_LEVEL_VALUES = ("--kubeconfig", "--context", "-o", "--output")


def add_dry_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dry-run", choices=("none", "client", "server"), default="none", metavar="STRATEGY",
                   help="--dry-run[=none|client|server]: client plans against the listed objects and "
                        "sends no write; server (the default of a bare --dry-run) sends every write with "
                        "dryRun=All, so the API server validates and admission runs; nothing is changed")


def normalize(argv: list[str]) -> list[str]:
    """A bare `--dry-run` of apply/delete means `--dry-run=server` (an optional value would swallow
    the FILE argument after it: `apply --dry-run runnerkit.yaml`)."""
    command, skip = None, False
    for token in argv:
        if skip:
            skip = False
        elif token in _TOP_LEVEL_VALUES:
            skip = True
        elif not token.startswith("-"):
            command = token
            break
    if command not in DRY_RUN_COMMANDS:
        return argv
    return ["--dry-run=server" if t == "--dry-run" else t for t in argv]
