"""runnerkit snippet gitlab|github PROJECT: the CI fragment that makes a project's jobs use its account."""

from __future__ import annotations

import argparse
import sys

from .common import add_spec_argument, load_spec


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("snippet", help="print the CI snippet for a project",
                            description="Print the .gitlab-ci.yml fragment or GitHub workflow steps "
                                        "that make a project's jobs run as its ServiceAccount.")
    which = p.add_subparsers(dest="platform", metavar="PLATFORM", required=True)
    for platform, help_text in (("gitlab", "the .gitlab-ci.yml fragment (overwrite variables, tags)"),
                                ("github", "GitHub workflow steps using the setup-kube action")):
        sp = which.add_parser(platform, help=help_text)
        sp.add_argument("project", metavar="PROJECT", help="project name from the spec")
        add_spec_argument(sp)
        sp.set_defaults(func=cmd_snippet)


def cmd_snippet(args: argparse.Namespace) -> int:
    spec = load_spec(args)
    project = spec.project(args.project)
    if args.platform == "gitlab":
        from ..gitlab.snippets import gitlab_ci_snippet as snippet
    else:
        from ..github.snippets import workflow_snippet as snippet
    sys.stdout.write(snippet(spec, project))
    return 0
