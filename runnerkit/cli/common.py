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

from . import globals as globals_

DEFAULT_SPEC = "runnerkit.yaml"


def prose(text: str) -> str:
    """Fill each paragraph of a description: RawDescriptionHelpFormatter keeps the examples' layout,
    and would keep the prose as one long line."""
    return "\n\n".join(textwrap.fill(p, 88) for p in text.split("\n\n"))


def add_spec_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", default=DEFAULT_SPEC, metavar="FILE",
                   help=f"the spec file (default: ./{DEFAULT_SPEC})")


def add_kube_options(p: argparse.ArgumentParser) -> None:
    # default=SUPPRESS: the top-level parser holds the defaults (see globals.py)
    g = p.add_argument_group("cluster access (resolved like kubectl)")
    g.add_argument("--kubeconfig", default=argparse.SUPPRESS,
                   help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then the pod's "
                        "in-cluster ServiceAccount)")
    g.add_argument("--context", default=argparse.SUPPRESS,
                   help="kubeconfig context to use (default: the current context)")


add_output = globals_.add_output


def connect(args: argparse.Namespace, concurrency: int | None = None) -> Client:
    from ..cluster.client import DEFAULT_CONCURRENCY, connect as kube_connect

    return kube_connect(args.kubeconfig, args.context, concurrency or DEFAULT_CONCURRENCY)


def add_insecure_http(p: argparse.ArgumentParser) -> None:
    p.add_argument("--insecure-http", action="store_true",
                   help="allow a plain http:// API URL on a non-loopback host (the token crosses the "
                        "network in clear text)")


def example_text(name: str = "runnerkit") -> str:
    """The built-in example spec: runnerkit (GitLab and GitHub projects), gitlab or github (one project)."""
    return resources.files("runnerkit").joinpath(f"examples/{name}.yaml").read_text(encoding="utf-8")


def load_spec(args: argparse.Namespace) -> Spec:
    from ..model import validate
    from .files import read_spec

    if getattr(args, "example", False):
        return validate.loads(example_text(), "example:runnerkit.yaml")
    return read_spec(args.file)


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2)
    sys.stdout.write("\n")


def print_data(output: str, data: Any) -> None:
    """-o json or -o yaml: the same document."""
    if output == "yaml":
        import yaml

        sys.stdout.write(yaml.safe_dump(data, sort_keys=False, default_flow_style=False))
    else:
        print_json(data)


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)
