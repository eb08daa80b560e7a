"""runnerkit export chart|gitlab-component|github-action DIR: what a pip install ships, written out."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import prose


def register(commands: argparse._SubParsersAction) -> None:
    from .bundled import BUNDLES, DEFAULT_DIRS

    p = commands.add_parser(
        "export", help="write the Helm chart or a CI template shipped with runnerkit into a directory",
        description=prose("Write out a file set that ships inside the runnerkit package, so a `pip install "
                          "runnerkit` is all you need: the runnerkit-tenants Helm chart, the GitLab CI/CD "
                          "component, or the GitHub setup-kube action. Existing files are not overwritten "
                          "without --force."),
        epilog="examples:\n"
               "  runnerkit export chart ./runnerkit-tenants && helm lint ./runnerkit-tenants\n"
               "  runnerkit export gitlab-component ./runnerkit-ci\n"
               "  runnerkit export github-action .github/actions/setup-kube",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    which = p.add_subparsers(dest="bundle", metavar="WHAT", required=True)
    for name, bundle in BUNDLES.items():
        sp = which.add_parser(name, help=bundle.what, description=f"Write {bundle.what} into DIR.")
        sp.add_argument("dir", nargs="?", default=DEFAULT_DIRS[name], metavar="DIR",
                        help=f"target directory, created if needed (default: ./{DEFAULT_DIRS[name]})")
        sp.add_argument("--force", action="store_true", help="overwrite files that exist")
        sp.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from .bundled import BUNDLES, export

    target = Path(args.dir)
    written = export(args.bundle, target, args.force)
    print(f"wrote {len(written)} files of {BUNDLES[args.bundle].what} to {target}")
    print("next: " + BUNDLES[args.bundle].next_step.format(dir=target))
    return 0
