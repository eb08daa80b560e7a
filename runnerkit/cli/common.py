"""Options and helpers shared by subcommands."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..cluster.protocol import Client
    from ..model.spec import Spec

DEFAULT_SPEC = "runnerkit.yaml"


def prose(text: str) -> str:
    """Fill each paragraph of a description: RawDescriptionHelpFormatter keeps the examples' layout,
    and would keep the prose as one long line."""
    return "\n\n".join(textwrap.fill(p, 88) for p in text.split("\n\n"))


def add_spec_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", default=DEFAULT_SPEC, metavar="FILE",
                   help=f"the spec file (default: ./{DEFAULT_SPEC})")


def add_kube_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("cluster access (resolved like kubectl)")
    g.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, "
                                        "then the pod's in-cluster ServiceAccount)")
    g.add_argument("--context", help="kubeconfig context to use (default: the current context)")


def add_output(p: argparse.ArgumentParser, choices: tuple[str, ...], default: str) -> None:
    p.add_argument("-o", "--output", choices=choices, default=default,
                   help=f"output format (default: {default})")


def connect(args: argparse.Namespace, concurrency: int | None = None) -> Client:
    from ..cluster.client import DEFAULT_CONCURRENCY, connect as kube_connect

    return kube_connect(args.kubeconfig, args.context, concurrency or DEFAULT_CONCURRENCY)


def add_insecure_http(p: argparse.ArgumentParser) -> None:
    p.add_argument("--insecure-http", action="store_true",
                   help="allow a plain http:// API URL on a non-loopback host (the token crosses the "
                        "network in clear text)")


def example_text() -> str:
    return resources.files("runnerkit").joinpath("examples/runnerkit.yaml").read_text(encoding="utf-8")


def load_spec(args: argparse.Namespace) -> Spec:
    from ..model import validate
    from .files import read_spec

    if getattr(args, "example", False):
        return validate.loads(example_text(), "example:runnerkit.yaml")
    return read_spec(args.file)


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2)
    sys.stdout.write("\n")


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)
