"""runnerkit gitlab configure-runner | rollback | push-variables."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError, RunnerkitError
if TYPE_CHECKING:
    from ..gitlab.template import Wanted
    from ..model.spec import Runner

from .common import (add_insecure_http, add_kube_options, add_output, add_spec_argument, connect, load_spec,
                     print_data, prose, warn)
from .globals import STRUCTURED

RAW = argparse.RawDescriptionHelpFormatter


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("gitlab", help="GitLab Runner: rewrite the runner template, push CI variables",
                            description="Wire a gitlab-runner Helm release to the spec: let its jobs "
                                        "switch to each project's namespace and ServiceAccount, and "
                                        "set the variables that make them do so.")
    sub = p.add_subparsers(dest="gitlab_command", metavar="SUBCOMMAND", required=True)

    c = sub.add_parser(
        "configure-runner", formatter_class=RAW,
        help="allow exactly the spec's namespaces/ServiceAccounts in the runner template",
        description=prose("Set namespace_overwrite_allowed and service_account_overwrite_allowed in the "
                    "runner's config.template.toml to anchored regexes of exactly the namespaces and "
                    "ServiceAccounts the spec provisions for that runner (e.g. ^(?:cicd|web-app)$). "
                    "Every other byte of the template stays as it is.\n\n"
                    "Live mode (default) edits the ConfigMap of the Helm release, writes it back only if "
                    "nobody changed it meanwhile, keeps the previous template for `rollback`, and "
                    "restarts the runner Deployment (the runner reads the template when it registers). "
                    "File mode (--values-file, --file) edits a Helm values file's runners.config or a "
                    "plain TOML file in place: the GitOps path, and the way to survive `helm upgrade`."),
        epilog="examples:\n"
               "  runnerkit gitlab configure-runner --dry-run          # show the TOML diff\n"
               "  runnerkit gitlab configure-runner                    # edit the live ConfigMap, restart\n"
               "  runnerkit gitlab configure-runner --values-file values.yaml\n"
               "  runnerkit gitlab configure-runner runnerkit.yaml --runner gitlab-shared --no-restart")
    add_spec_argument(c)
    add_runner_options(c)
    target = c.add_mutually_exclusive_group()
    target.add_argument("--values-file", metavar="VALUES.yaml",
                        help="edit runners.config in this Helm values file instead of the cluster")
    target.add_argument("--file", dest="toml_file", metavar="TEMPLATE.toml", help="edit this TOML template file instead")
    c.add_argument("--dry-run", action="store_true", help="print the unified diff of the TOML; change nothing")
    c.add_argument("--no-restart", action="store_true",
                   help="live mode: do not restart the runner Deployment (the edit applies at its next start)")
    c.add_argument("--allow-any", action="store_true",
                   help="write '.*' (any namespace, any ServiceAccount) instead of the spec's names; unsafe")
    add_kube_options(c)
    add_output(c, ("text", "json"), "text")
    c.set_defaults(func=cmd_configure)

    r = sub.add_parser(
        "rollback", formatter_class=RAW, help="restore the runner template configure-runner replaced",
        description=prose("Put back the config.template.toml that the last live configure-runner replaced "
                    "(kept in the ConfigMap's runnerkit.io/previous-config-template annotation), byte "
                    "for byte, and restart the runner Deployment."),
        epilog="examples:\n  runnerkit gitlab rollback --dry-run\n  runnerkit gitlab rollback runnerkit.yaml")
    add_spec_argument(r)
    add_runner_options(r)
    r.add_argument("--dry-run", action="store_true", help="print the diff; change nothing")
    r.add_argument("--no-restart", action="store_true", help="do not restart the runner Deployment")
    r.add_argument("--force", action="store_true",
                   help="roll back even though the template was edited by hand since configure-runner "
                        "wrote it (the edit is lost)")
    add_kube_options(r)
    add_output(r, ("text", "json"), "text")
    r.set_defaults(func=cmd_rollback)

    v = sub.add_parser(
        "push-variables", formatter_class=RAW,
        help="set KUBERNETES_*_OVERWRITE as project CI/CD variables via the GitLab API",
        description=prose("Create or update KUBERNETES_NAMESPACE_OVERWRITE and "
                    "KUBERNETES_SERVICE_ACCOUNT_OVERWRITE as CI/CD variables of the project's GitLab "
                    "project (REST API). The token is read from $GITLAB_TOKEN only (api scope, "
                    "Maintainer role) and never printed."),
        epilog="examples:\n"
               "  export GITLAB_TOKEN=...   # from your secret store\n"
               "  runnerkit gitlab push-variables web-app --gitlab-url https://gitlab.example.com --dry-run\n"
               "  runnerkit gitlab push-variables web-app --project platform/web-app")
    v.add_argument("project", metavar="PROJECT", help="project name from the spec")
    add_spec_argument(v)
    v.add_argument("--gitlab-url", default=os.environ.get("GITLAB_URL") or os.environ.get("CI_SERVER_URL"),
                   help="GitLab address (default: $GITLAB_URL, then $CI_SERVER_URL)")
    v.add_argument("--project", dest="gitlab_project", metavar="ID_OR_PATH",
                   help="GitLab project id or path (default: the project's gitlab.project in the spec)")
    v.add_argument("--environment-scope", default="*", metavar="SCOPE",
                   help="environment scope of the variables (default: *)")
    v.add_argument("--dry-run", action="store_true", help="read the current variables, write nothing")
    add_insecure_http(v)
    add_output(v, ("text", "json"), "text")
    v.set_defaults(func=cmd_push_variables)


def add_runner_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runner", metavar="NAME", help="which gitlab runner of the spec (needed if it has several)")
    p.add_argument("--configmap", metavar="NAME",
                   help="live mode: the runner's ConfigMap (default: from the runner's release in the spec)")


# -- configure-runner ---------------------------------------------------------------------------

def cmd_configure(args: argparse.Namespace) -> int:
    from ..gitlab.template import wanted_for

    spec = load_spec(args)
    runner = spec.runner(args.runner, "gitlab")
    wanted = wanted_for(spec, runner, allow_any=args.allow_any)
    if args.allow_any:
        warn("--allow-any writes '.*': any pipeline on this runner may pick any namespace and "
             "ServiceAccount of the cluster its manager can reach")
    if args.values_file or args.toml_file:
        return configure_file(args, wanted, runner)
    from ..gitlab import configmap

    out = configmap.configure(connect(args), runner, wanted, configmap=args.configmap,
                              dry_run=args.dry_run, restart=not args.no_restart)
    if args.output in STRUCTURED:
        print_data(args.output, out.to_dict())
        return 0
    for note in out.notes:
        print(f"note: {note}")
    for warning in out.warnings:
        warn(warning)
    if args.dry_run:
        sys.stdout.write(out.diff() or f"{out.configmap}: already configured, nothing to change\n")
        return 0
    if not out.changed:
        print(f"{out.configmap}: already configured ({describe(wanted)}); nothing written, nothing restarted")
        return 0
    print(f"{out.configmap}: config.template.toml updated ({describe(wanted)})")
    print(f"{out.restarted}: restarted (the runner reads the template only when it registers at start)"
          if out.restarted else "runner not restarted: the edit takes effect at its next start")
    print_values_hint(out.after or "")
    return 0


def configure_file(args: argparse.Namespace, wanted: Wanted, runner: Runner) -> int:
    from ..gitlab.template import edit_template, unified_diff
    from ..gitlab.values import edit_values

    path = Path(args.values_file or args.toml_file)
    from .files import read_input

    text = read_input(path)
    if args.values_file:
        new_text, edit = edit_values(text, wanted, str(path))
    else:
        edit = edit_template(text, wanted, str(path), runner.namespace)
        new_text = edit.after
    if not args.dry_run and edit.changed:
        write_in_place(path, new_text)
    if args.output in STRUCTURED:  # after the write: "written" is what happened
        print_data(args.output, {"file": str(path), "changed": edit.changed, "written": edit.changed and not args.dry_run,
                    "dryRun": args.dry_run, "notes": edit.notes, "template": edit.after})
        return 0
    if args.dry_run:
        sys.stdout.write(unified_diff(text, new_text, str(path)) or f"{path}: already configured\n")
        return 0
    for note in edit.notes:
        print(f"note: {note}")
    print(f"{path}: {'updated' if edit.changed else 'already configured, unchanged'} ({describe(wanted)})")
    if edit.changed and args.values_file:
        print(f"next: helm upgrade {runner.release} gitlab/gitlab-runner -n {runner.namespace} "
              f"-f {path}  (the chart restarts the runner when the ConfigMap changes)")
    return 0


def write_in_place(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.runnerkit-tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise InputError(f"{path}: cannot write: {e}") from None


def describe(wanted: Wanted) -> str:
    from ..gitlab.template import NAMESPACE_KEY, SERVICE_ACCOUNT_KEY

    return f"{NAMESPACE_KEY} = {wanted.namespace_regex!r}, {SERVICE_ACCOUNT_KEY} = {wanted.service_account_regex!r}"


def print_values_hint(template: str) -> None:
    from ..gitlab.values import literal_block

    print("note: the next `helm upgrade` re-renders this ConfigMap from your values and undoes this "
          "edit. Make it permanent in the values file (or run `runnerkit gitlab configure-runner "
          "--values-file values.yaml`, which keeps your file's templating and comments):")
    sys.stdout.write("runners:\n" + literal_block("  config: ", template, 4))


# -- rollback -----------------------------------------------------------------------------------

def cmd_rollback(args: argparse.Namespace) -> int:
    from ..gitlab import configmap

    spec = load_spec(args)
    runner = spec.runner(args.runner, "gitlab")
    out = configmap.rollback(connect(args), runner, configmap=args.configmap, dry_run=args.dry_run,
                             restart=not args.no_restart, force=args.force)
    if out.hand_edited and not args.force and not args.dry_run:
        if args.output not in STRUCTURED:
            sys.stdout.write(out.diff())
        raise RunnerkitError(f"{out.configmap}: config.template.toml was edited since configure-runner "
                             "wrote it; rolling back would discard that edit (the diff above); nothing was "
                             "changed: pass --force to roll back anyway")
    if out.hand_edited and args.dry_run:
        warn(f"{out.configmap}: config.template.toml was edited since configure-runner wrote it: rollback "
             "would discard that edit, and needs --force")
    if args.output in STRUCTURED:
        print_data(args.output, out.to_dict())
        return 0
    for warning in out.warnings:
        warn(warning)
    if args.dry_run:
        sys.stdout.write(out.diff() or f"{out.configmap}: the backup equals the current template\n")
        return 0
    what = "restored" if out.after is not None else "removed (there was none before runnerkit)"
    print(f"{out.configmap}: config.template.toml {what}; backup annotation removed")
    print(f"{out.restarted}: restarted" if out.restarted else "runner not restarted")
    return 0


# -- push-variables -----------------------------------------------------------------------------

def cmd_push_variables(args: argparse.Namespace) -> int:
    from ..gitlab.api import GitlabClient, push_variables, token_from_env
    from ..gitlab.snippets import ci_variables, require_gitlab

    spec = load_spec(args)
    project = spec.project(args.project)
    require_gitlab(spec, project)
    ids = project.gitlab.project_ids
    # One projectIds entry names the GitLab project as well as gitlab.project would.
    target = args.gitlab_project or project.gitlab.project or (str(ids[0]) if len(ids) == 1 else "")
    if not target:
        which = (f"it has {len(ids)} projectIds, so say which" if ids else "no gitlab.project or projectIds")
        raise InputError(f"{spec.path}: project {project.name!r}: no GitLab project to write to ({which}); "
                         "set gitlab.project (id or path) in the spec or pass --project ID_OR_PATH")
    if not args.gitlab_url:
        raise InputError("no GitLab address: pass --gitlab-url https://gitlab.example.com (or set GITLAB_URL)")
    client = GitlabClient(args.gitlab_url, token_from_env(), insecure_http=args.insecure_http)
    changes = push_variables(client, target, ci_variables(project), args.environment_scope, args.dry_run)
    if args.output in STRUCTURED:
        print_data(args.output, {"project": target, "dryRun": args.dry_run,
                    "variables": [{"key": c.key, "action": c.action, "environmentScope": c.scope}
                                  for c in changes]})
        return 0
    suffix = " (dry run: nothing was written)" if args.dry_run else ""
    for c in changes:
        value = ci_variables(project)[c.key]
        action = c.action if not args.dry_run or c.action == "unchanged" else f"would be {c.action}"
        print(f"{target}: {c.key}={value} (environment scope {c.scope}) {action}{suffix}")
    return 0
