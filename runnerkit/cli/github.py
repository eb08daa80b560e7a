"""runnerkit github runner-values | patch-runner | push-variables."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from ..errors import InputError
from ..cluster.saas_http import token_from_env
if TYPE_CHECKING:
    from ..model.spec import Project

from .common import (add_insecure_http, add_kube_options, add_output, add_spec_argument, connect, load_spec,
                     print_data, print_json, prose, warn)
from .globals import STRUCTURED


def register(commands: argparse._SubParsersAction) -> None:
    group = commands.add_parser("github", help="GitHub Actions runners: ARC values, runner patch, variables",
                                description=prose("Wire GitHub Actions self-hosted runners (ARC scale sets, "
                                            "summerwind RunnerDeployments, plain Deployments) to a "
                                            "project's ServiceAccount, and push its settings to GitHub."))
    sub = group.add_subparsers(dest="github_command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "runner-values", help="print gha-runner-scale-set values that run the runners as the project's SA",
        description=prose("Print the gha-runner-scale-set Helm values fragment for a project: the namespace the "
                    "scale set runs in (namespaceOverride when it differs from the install namespace) and "
                    "template.spec.serviceAccountName. Naming the ServiceAccount makes the chart drop its "
                    "own ServiceAccount and kube-mode Role, so kube mode needs the project to grant preset "
                    "arc-kube-mode."),
        epilog="examples:\n  runnerkit github runner-values mobile > runner-values.yaml\n"
               "  runnerkit github runner-values mobile --container-mode kubernetes --storage-class standard",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("project", metavar="PROJECT", help="project name from the spec")
    add_spec_argument(p)
    p.add_argument("--container-mode", choices=("default", "dind", "kubernetes", "kubernetes-novolume"),
                   help="the scale set's containerMode.type (default: the project's github.containerMode, "
                        "else none set). kubernetes modes also wire the container hook template "
                        "(ConfigMap runnerkit-PROJECT-hook-template) so job pods run as the project's SA")
    p.add_argument("--storage-class", help="kubernetes mode: StorageClass of the work volume "
                                           "(default: the cluster's default class)")
    p.add_argument("--work-size", default="1Gi", help="kubernetes mode: work volume size (default: 1Gi)")
    add_output(p, ("yaml", "json"), "yaml")
    p.set_defaults(func=cmd_runner_values)

    p = sub.add_parser(
        "patch-runner", help="switch an existing runner workload to the project's ServiceAccount",
        description=prose("Patch a runner workload's pod template (spec.template.spec.serviceAccountName) to the "
                    "project's ServiceAccount: an AutoscalingRunnerSet (actions.github.com), a "
                    "RunnerDeployment (actions.summerwind.dev) or a Deployment. A minimal JSON merge patch, "
                    "sent only when something changes. The workload must run in the project's namespace: a "
                    "pod can only use a ServiceAccount of its own namespace."),
        epilog="examples:\n  runnerkit github patch-runner mobile --dry-run\n"
               "  runnerkit github patch-runner mobile --kind deployment --name actions-runner -n mobile",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("project", metavar="PROJECT", help="project name from the spec")
    add_spec_argument(p)
    p.add_argument("--kind", choices=("autoscalingrunnerset", "runnerdeployment", "deployment"),
                   help="the workload's kind (default: whichever kind has the name)")
    p.add_argument("--name", help="the workload's name (default: the runner's release name from the spec)")
    p.add_argument("-n", "--namespace", help="the workload's namespace (default: the project's, then the "
                                             "runner's namespace from the spec)")
    p.add_argument("--dry-run", action="store_true", help="server-side dry run: print the diff, change nothing")
    add_kube_options(p)
    add_output(p, ("text", "json"), "text")
    p.set_defaults(func=cmd_patch_runner)

    p = sub.add_parser(
        "push-variables", help="set the project's Actions variables in GitHub (repository or environment)",
        description=prose("Create or update GitHub Actions variables for the project's repository (or its "
                    "environment): KUBE_NAMESPACE and KUBE_SERVICE_ACCOUNT, plus any --set NAME=VALUE. "
                    "Reads the token from GITHUB_TOKEN (never printed): a classic token with the repo scope, "
                    "or a fine-grained one with Variables (or Environments) write access."),
        epilog="examples:\n  GITHUB_TOKEN=... runnerkit github push-variables mobile --dry-run\n"
               "  runnerkit github push-variables mobile --environment production --set KUBE_CONTEXT=prod\n"
               "  runnerkit github push-variables mobile --api-url https://github.example.com/api/v3",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("project", metavar="PROJECT", help="project name from the spec")
    add_spec_argument(p)
    p.add_argument("--repository", metavar="OWNER/REPO", help="default: the project's github.repository")
    p.add_argument("--environment", help="set environment variables of this environment (default: the "
                                         "project's github.environment; none: repository variables)")
    p.add_argument("--repository-level", action="store_true",
                   help="set repository variables even if the project names an environment")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="another variable (repeatable)")
    p.add_argument("--api-url", default=os.environ.get("GITHUB_API_URL") or "https://api.github.com",
                   help="REST API root; GitHub Enterprise Server: https://HOST/api/v3 "
                        "(default: $GITHUB_API_URL or https://api.github.com)")
    p.add_argument("--dry-run", action="store_true", help="only read: report what would be created or updated")
    add_insecure_http(p)
    add_output(p, ("text", "json"), "text")
    p.set_defaults(func=cmd_push_variables)


def _github_project(args: argparse.Namespace) -> Project:
    spec = load_spec(args)
    project = spec.project(args.project)
    if project.runner.type != "github":
        raise InputError(f"{spec.path}: project {project.name!r} runs on {project.runner.type} runner "
                         f"{project.runner.name!r}, not a github runner; set its runner: to a github runner")
    return project


def cmd_runner_values(args: argparse.Namespace) -> int:
    from ..github import arc

    project = _github_project(args)
    args.container_mode = args.container_mode or project.github.container_mode or "default"
    if args.container_mode.startswith("kubernetes") and not project.github.kube_mode:
        warn(f"project {project.name} has no github.containerMode: {args.container_mode} in the spec, so "
             "`runnerkit apply` renders no hook-template ConfigMap and the runner pods cannot start: add "
             f"`github: {{containerMode: {args.container_mode}}}` to the project and apply")
    if args.container_mode.startswith("kubernetes"):
        missing = arc.missing_kube_mode_rights(project)
        if missing:
            warn(f"project {project.name} does not grant {', '.join(missing)} in {project.namespace}, which "
                 f"kubernetes-mode runners need: add `- preset: {arc.KUBE_MODE_PRESET}` to its access: and "
                 "`runnerkit apply` (the chart renders no kube-mode Role once the ServiceAccount is named)")
    if args.output == "json":
        print_json(arc.runner_values(project, args.container_mode, args.storage_class, args.work_size))
    else:
        sys.stdout.write(arc.runner_values_yaml(project, args.container_mode, args.storage_class, args.work_size))
    return 0


def cmd_patch_runner(args: argparse.Namespace) -> int:
    from ..github.runner import patch_runner

    project = _github_project(args)
    runner = project.runner
    name = args.name or (runner.release if args.kind == "autoscalingrunnerset" else runner.deployment)
    namespaces = [args.namespace] if args.namespace else [project.namespace, runner.namespace]
    result = patch_runner(connect(args), project, name, namespaces, args.kind, args.dry_run)
    if args.output in STRUCTURED:
        print_data(args.output, result.to_dict())
        return 0
    if not result.changed:
        print(f"{result.display}: unchanged, already runs as ServiceAccount {result.new}")
        for note in result.notes:
            print(f"note: {note}", file=sys.stderr)
        return 0
    if result.dry_run:
        sys.stdout.write(result.diff)
    would = "would " if result.dry_run else ""
    what = (f"{would}switch ServiceAccount {result.old} -> {result.new}" if result.old != result.new
            else f"runs as ServiceAccount {result.new}")
    if result.hook_template:
        what += f"; {would}mount the container-hook template"
    if not result.dry_run:
        what = what.replace("switch ", "switched ").replace("mount ", "mounted ")
    print(f"{result.display}: {what}" + (" (dry run: nothing changed)" if result.dry_run else ""))
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    return 0


def cmd_push_variables(args: argparse.Namespace) -> int:
    from ..github import api as gh

    project = load_spec(args).project(args.project)
    repository = args.repository or project.github.repository
    if not repository or repository.count("/") != 1:
        raise InputError(f"{args.file}: project {project.name!r} has no github.repository; add "
                         "`github: {repository: OWNER/REPO}` to it or pass --repository OWNER/REPO"
                         if not repository else f"--repository {repository!r}: write OWNER/REPO")
    environment = None if args.repository_level else (args.environment or project.github.environment)
    variables = gh.project_variables(project)
    for assignment in args.set:
        name, value = gh.parse_assignment(assignment)
        variables[name] = value
    token = token_from_env("GITHUB_TOKEN", "a token with write access to the repository's Actions variables")
    changes = gh.push_variables(gh.GithubApi(token, args.api_url, args.insecure_http), repository, variables, environment,
                                args.dry_run)
    where = f"{repository}" + (f" environment {environment}" if environment else "")
    if args.output in STRUCTURED:
        print_data(args.output, {"repository": repository, "environment": environment, "dryRun": args.dry_run,
                    "variables": [{"name": c.name, "value": c.value, "action": c.action, "old": c.old}
                                  for c in changes]})
        return 0
    for c in changes:
        verb = {"create": "created", "update": "updated", "unchanged": "unchanged"}[c.action]
        if args.dry_run and c.action != "unchanged":
            verb = f"would be {verb}"
        detail = f" (was {c.old!r})" if c.action == "update" else ""
        print(f"{where}: {c.name}={c.value!r} {verb}{detail}")
    return 0
