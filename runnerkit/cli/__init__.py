"""Command line: parse arguments, call one core/edge function, print, map errors to exit codes.

Exit codes: 0 ok, 1 drift / failed check / findings, 2 bad input or usage, 3 cluster or API error,
4 internal error (a bug in runnerkit). Everything printed passes through runnerkit.model.redact.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import importlib
import sys
import traceback
from typing import NoReturn, TextIO, cast

from .. import __version__
from ..errors import RunnerkitError
from ..model.redact import RedactingStream
from . import globals as globals_
from .terminal import Styled

INTERNAL_ERROR = 4
REPORT_AT = "https://github.com/runnerkit/runnerkit/issues"

COMMAND_MODULES = ("core", "gitlab", "github", "kubeconfig", "snippet", "diagnose", "credential", "export",
                   "completion")


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # usage errors exit 2 with a one-line hint
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 1 <= value <= 3600:
        raise argparse.ArgumentTypeError("must be between 1 and 3600 seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="runnerkit",
        description="Least-privilege Kubernetes access for CI runners: provision per-project "
                    "namespaces, ServiceAccounts and RBAC from runnerkit.yaml, rewire GitLab/GitHub "
                    "runners, emit CI snippets, diagnose and audit.",
        epilog="Start with `runnerkit init`, then `runnerkit validate`, `runnerkit render`, "
               "`runnerkit diff` and `runnerkit apply`. Exit codes: 0 ok, 1 drift/failed check/"
               "findings, 2 bad input, 3 cluster or API error, 4 internal error (a bug: "
               "please report it).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"runnerkit {__version__}")
    globals_.add_top_level(parser)
    parser.add_argument("--timeout", type=_seconds, default=None, metavar="SECONDS",
                        help="total time for one API request with its retries (default: 60)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"runnerkit.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"runnerkit.cli.{name}":
                raise
            continue
        module.register(commands)
    globals_.add_debug_everywhere(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    stdout, stderr = sys.stdout, sys.stderr
    # Styled: marks and colour only on a terminal, ASCII where the encoding cannot show them.
    sys.stdout = RedactingStream(cast(TextIO, Styled(stdout)))  # Styled is a TextIOBase over a TextIO
    sys.stderr = RedactingStream(cast(TextIO, Styled(stderr)))
    try:
        return _main(argv)
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        sys.stdout, sys.stderr = stdout, stderr


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(globals_.normalize(sys.argv[1:] if argv is None else list(argv)))
    globals_.resolve_output(args, parser)
    from ..model.retry import set_deadline

    set_deadline(args.timeout)
    # One short run: parsing list responses of thousands of objects allocates millions of dicts,
    # and the cyclic collector would rescan them again and again (up to a third of a no-op apply)
    # for nothing: JSON has no cycles. Reference counting still frees everything. At interpreter
    # exit, freezing skips the final full collection over every imported module (~35 ms).
    collecting = gc.isenabled()
    gc.disable()
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)
    try:
        return int(args.func(args) or 0)
    except RunnerkitError as e:
        if args.debug:
            traceback.print_exc(file=sys.stderr)
        for line in str(e).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # the last line of defence: never a bare traceback, never a token
        if args.debug:
            traceback.print_exc(file=sys.stderr)
        message = " ".join(str(e).split())[:300]
        print(f"internal error: {type(e).__name__}: {message}", file=sys.stderr)
        print(f"this is a bug in runnerkit: please report it at {REPORT_AT}, with the output of "
              "--debug (secrets are masked)", file=sys.stderr)
        return INTERNAL_ERROR
    finally:
        if collecting:
            gc.enable()


if __name__ == "__main__":
    sys.exit(main())
