"""runnerkit snippet gitlab|github PROJECT: the CI fragment that makes a project's jobs use its account."""

from __future__ import annotations

import argparse
import sys

from .common import add_spec_argument, load_spec


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("snippet", help="print the CI snippet for a project",
                            description="Print the .gitlab-ci.yml fragment or GitHub workflow steps "
                                        "that make a project's jobs run as its ServiceAccount, or, when "
                                        "the project declares identities: for that CI system, the keyless "
                                        "job that uses its own OIDC ID token through the setup-kube "
                                        "action's OIDC mode or the runnerkit-oidc GitLab component "
                                        "(docs/oidc.md).")
    which = p.add_subparsers(dest="platform", metavar="PLATFORM", required=True)
    for platform, help_text in (("gitlab", "the .gitlab-ci.yml fragment (overwrite variables, tags; or the runnerkit-oidc job)"),
                                ("github", "GitHub workflow steps using the setup-kube action")):
        sp = which.add_parser(platform, help=help_text)
        sp.add_argument("project", metavar="PROJECT", help="project name from the spec")
        add_spec_argument(sp)
        sp.set_defaults(func=cmd_snippet)


def cmd_snippet(args: argparse.Namespace) -> int:
    spec = load_spec(args)
    project = spec.project(args.project)
    from ..model.identities import GithubIdentity, GitlabIdentity, identity_for

    identity = identity_for(project.identities, args.platform)
    # the project declares a keyless identity: no runner, no stored token
    if isinstance(identity, GithubIdentity):
        from ..github.oidc_snippet import github_oidc_snippet

        sys.stdout.write(github_oidc_snippet(spec, project, identity))
        return 0
    if isinstance(identity, GitlabIdentity):
        from ..gitlab.oidc_snippet import gitlab_oidc_snippet

        sys.stdout.write(gitlab_oidc_snippet(spec, project, identity))
        return 0
    if args.platform == "gitlab":
        from ..gitlab.snippets import gitlab_ci_snippet as snippet
    else:
        from ..github.snippets import workflow_snippet as snippet
    sys.stdout.write(snippet(spec, project))
    return 0
