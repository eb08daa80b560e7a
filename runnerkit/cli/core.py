"""init, validate, render, apply, diff, delete."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError
from .files import writable_file
from .common import (DEFAULT_SPEC, add_kube_options, add_output, add_spec_argument, connect,
                     example_text, load_spec, print_data, print_json, warn)
from .globals import STRUCTURED, add_dry_run

if TYPE_CHECKING:
    from ..cluster.apply import ApplyResult


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("init", help="write a commented example runnerkit.yaml",
                            description="Write a commented example spec to start from. It applies as "
                                        "written on an empty cluster: it creates every namespace it uses.",
                            epilog="examples:\n  runnerkit init                 # GitLab and GitHub projects\n"
                                   "  runnerkit init --gitlab        # one GitLab project\n"
                                   "  runnerkit init --github -      # one GitHub repository, to stdout",
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", nargs="?", default=DEFAULT_SPEC, help=f"where to write it (default: {DEFAULT_SPEC}; - for stdout)")
    flavour = p.add_mutually_exclusive_group()
    flavour.add_argument("--gitlab", dest="flavour", action="store_const", const="gitlab",
                         help="a minimal spec: one GitLab runner and one project")
    flavour.add_argument("--github", dest="flavour", action="store_const", const="github",
                         help="a minimal spec: one GitHub ARC runner and one repository")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=cmd_init)

    p = commands.add_parser("validate", help="check a spec file without touching a cluster",
                            description="Check a spec file: one line per problem with file:line, "
                                        "field and fix. Exit 2 when anything is wrong.")
    add_spec_argument(p)
    add_output(p, ("text", "json"), "text")
    p.set_defaults(func=cmd_validate)

    p = commands.add_parser("render", help="print the Kubernetes objects a spec declares",
                            description="Print every object the spec declares, ready for "
                                        "`kubectl apply -f -` (no cluster needed).",
                            epilog="examples:\n  runnerkit render --example\n  runnerkit render runnerkit.yaml "
                                   "-o json\n  runnerkit render | kubectl apply --server-side -f -\n"
                                   "  runnerkit render --format helm-values runnerkit.yaml > values.yaml\n"
                                   "  runnerkit export chart ./runnerkit-tenants\n"
                                   "  helm upgrade --install tenants ./runnerkit-tenants -f values.yaml\n"
                                   "  runnerkit render --format authentication-config --kubernetes-version 1.33\n"
                                   "  runnerkit render --format oidc-flags\n"
                                   "  runnerkit render --format eks-identity-provider -o json > eks-oidc.json",
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add_spec_argument(p)
    p.add_argument("--example", action="store_true", help="render the built-in example spec")
    p.add_argument("--format", choices=("manifests", "helm-values", "authentication-config", "oidc-flags",
                                        "eks-identity-provider"),
                   default="manifests",
                   help="manifests: the Kubernetes objects (default); helm-values: values for the "
                        "runnerkit-tenants Helm chart that make it render the same objects; "
                        "authentication-config: the API server's AuthenticationConfiguration "
                        "(--authentication-config) for the spec's CI identity issuers (docs/oidc.md); "
                        "oidc-flags: the kube-apiserver --oidc-* flags for an issuer with "
                        "authentication: oidc-flags, with what they cannot express; "
                        "eks-identity-provider: the same as input for `aws eks "
                        "associate-identity-provider-config --cli-input-json|yaml`")
    p.add_argument("--kubernetes-version", metavar="1.N",
                   help="with --format authentication-config: the API server's version; 1.34+ gets "
                        "apiserver.config.k8s.io/v1, 1.30-1.33 v1beta1 (default: v1)")
    add_output(p, ("yaml", "json", "text"), "yaml; text, the flags one per line, for oidc-flags")
    p.set_defaults(func=cmd_render, output_default=None)

    p = commands.add_parser("apply", help="create or update the declared objects (server-side apply)",
                            description="Make the cluster match the spec: one list call per kind, "
                                        "server-side apply (field manager `runnerkit`) only for objects "
                                        "that differ, concurrently. Reports each object as created, "
                                        "configured, unchanged or pruned.",
                            epilog="examples:\n  runnerkit apply runnerkit.yaml --dry-run        # = --dry-run=server\n"
                                   "  runnerkit apply --dry-run=client -o yaml       # the plan, no write sent\n"
                                   "  runnerkit apply runnerkit.yaml --prune",
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add_spec_argument(p)
    add_prune_options(p)
    add_dry_run(p)
    p.add_argument("--accept-unenforced-isolation", action="store_true",
                   help="you know the cluster cannot enforce GitLab project isolation (no "
                        "ValidatingAdmissionPolicy): do not warn about it on every apply")
    p.add_argument("--require-isolation", action="store_true",
                   help="fail (exit 1, nothing changed) when the spec declares GitLab project isolation "
                        "and the cluster cannot enforce it (no ValidatingAdmissionPolicy: Kubernetes < 1.30)")
    p.add_argument("--force", action="store_true",
                   help="with --prune-namespaces: delete namespaces even when they hold objects runnerkit "
                        "does not manage (they are deleted with them)")
    p.add_argument("--concurrency", type=positive_int, metavar="N",
                   help="writes in flight at once (default: 32), 1 to 256")
    add_kube_options(p)
    add_output(p, ("text", "json"), "text")
    p.set_defaults(func=cmd_apply)

    p = commands.add_parser("diff", help="show what apply would change (exit 1 when something would)",
                            description="Unified diff of live objects against a server-side dry-run "
                                        "apply. Exit 0: nothing to change, 1: changes, >1: error.")
    add_spec_argument(p)
    add_prune_options(p)
    add_kube_options(p)
    add_output(p, ("text", "json"), "text")
    p.set_defaults(func=cmd_diff)

    p = commands.add_parser("delete", help="delete every object this spec manages",
                            description="Delete the objects labelled with this spec's name. "
                                        "Namespaces are kept unless --delete-namespaces.")
    add_spec_argument(p)
    p.add_argument("--delete-namespaces", action="store_true",
                   help="also delete the namespaces runnerkit created (never one it did not), and "
                        "everything in them; refused when they hold objects runnerkit does not manage")
    p.add_argument("--force", action="store_true",
                   help="with --delete-namespaces: delete them even when they hold others' objects")
    add_dry_run(p)
    add_kube_options(p)
    add_output(p, ("text", "json"), "text")
    p.set_defaults(func=cmd_delete)


def add_prune_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prune", action="store_true",
                   help="delete objects of this spec that are no longer declared (namespaces are kept)")
    p.add_argument("--prune-namespaces", action="store_true",
                   help="with --prune, also delete undeclared namespaces and everything in them")


def check_prune_flags(args: argparse.Namespace) -> None:
    """Flags that would silently do nothing are refused: the user meant something else."""
    if args.prune_namespaces and not args.prune:
        raise InputError("--prune-namespaces does nothing without --prune; add --prune (nothing was changed)")
    if getattr(args, "force", False) and not args.prune_namespaces:
        raise InputError("--force only matters with --prune --prune-namespaces; drop it (nothing was changed)")


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def positive_int(text: str) -> int:
    """--concurrency: 1 to 256 (a huge number would fill a connection-pool queue, not go faster)."""
    from ..model.limits import MAX_CONCURRENCY, MIN_CONCURRENCY

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not MIN_CONCURRENCY <= value <= MAX_CONCURRENCY:
        raise argparse.ArgumentTypeError(f"must be between {MIN_CONCURRENCY} and {MAX_CONCURRENCY}")
    return value


def cmd_init(args: argparse.Namespace) -> int:
    text = example_text(args.flavour or "runnerkit")
    if args.file == "-":
        sys.stdout.write(text)
        return 0
    path = writable_file(Path(args.file), "init")
    if path.exists() and not args.force:
        raise InputError(f"{path} exists; pass --force to overwrite it")
    path.write_text(text, encoding="utf-8")
    shown = "" if str(path) == DEFAULT_SPEC else f" {path}"
    print(f"wrote {path}: edit it, then `runnerkit validate{shown}`, `runnerkit apply{shown}`, "
          f"`runnerkit verify{shown}`")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    spec = load_spec(args)
    if args.output in STRUCTURED:
        print_data(args.output, {"file": args.file, "valid": True, "name": spec.name,
                                 "projects": [p.name for p in spec.projects], "runners": sorted(spec.runners)})
        return 0
    print(f"{args.file}: ok ({plural(len(spec.projects), 'project')}, {plural(len(spec.runners), 'runner')})")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from ..desired import render
    from ..model.render import to_json, to_yaml

    spec = load_spec(args)
    if args.output == "text" and args.format != "oidc-flags":
        raise InputError(f"-o text: only --format oidc-flags prints text; --format {args.format} prints "
                         "yaml or json")
    args.output = args.output or ("text" if args.format == "oidc-flags" else "yaml")
    if args.format == "helm-values":
        from ..model import helmvalues

        values = helmvalues.to_helm_values(spec)
        if args.output == "json":
            print_json(values)
        else:
            sys.stdout.write(helmvalues.to_yaml(values, spec.path))
        return 0
    if args.format == "authentication-config":
        from ..model import authconfig

        config = authconfig.authentication_config(spec, args.kubernetes_version)
        if args.output == "json":
            print_json(config)
        else:
            sys.stdout.write(authconfig.to_yaml(config))
        return 0
    if args.format in ("oidc-flags", "eks-identity-provider"):
        from ..model import oidcflags

        if args.format == "oidc-flags":
            flags = oidcflags.apiserver_flags(spec)
            if args.output == "text":
                sys.stdout.write(oidcflags.flags_text(flags, spec))
            else:
                print_data(args.output, flags)
            return 0
        print_data(args.output, oidcflags.eks_identity_provider(spec))
        return 0
    objects = render(spec)
    sys.stdout.write(to_json(objects) + "\n" if args.output == "json" else to_yaml(objects))
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    from ..cluster import apply
    from ..gitlab.isolation import require_isolation
    from ..gitlab.manager_account import missing_manager_accounts
    from ..desired import render

    check_prune_flags(args)
    spec = load_spec(args)
    objects = render(spec)
    client = connect(args, args.concurrency)
    warnings: list[str] = []

    def check(unserved: set[str]) -> None:
        gap = require_isolation(objects, unserved, args.require_isolation)
        if gap and not args.accept_unenforced_isolation:
            warnings.append(gap + " (pass --accept-unenforced-isolation to stop this warning)")
        warnings.extend(missing_manager_accounts(client, spec, objects))

    result = apply.apply(client, objects, spec.name, dry_run=args.dry_run == "server",
                         client_only=args.dry_run == "client", prune=args.prune,
                         prune_namespaces=args.prune_namespaces, check=check, adopt=spec.adopted_namespaces, force=args.force)
    report(result, args.output, warnings)
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from ..cluster import apply
    from ..desired import render

    check_prune_flags(args)
    spec = load_spec(args)
    text, result = apply.diff(connect(args), render(spec), spec.name, prune=args.prune,
                              prune_namespaces=args.prune_namespaces,
                              adopt=spec.adopted_namespaces)
    if args.output in STRUCTURED:
        print_data(args.output, {**result.to_dict(), "changed": bool(text), "diff": text})
    else:
        sys.stdout.write(text)
        for note in result.notes:
            print(f"note: {note}", file=sys.stderr)
    return 1 if text else 0


def cmd_delete(args: argparse.Namespace) -> int:
    from ..cluster import apply

    if args.force and not args.delete_namespaces:
        raise InputError("--force only matters with --delete-namespaces; drop it (nothing was changed)")
    spec = load_spec(args)
    result = apply.delete(connect(args), spec.name, dry_run=args.dry_run == "server",
                          client_only=args.dry_run == "client", namespaces=args.delete_namespaces,
                          force=args.force)
    report(result, args.output, [])
    return 0


def report(result: ApplyResult, output: str, warnings: list[str]) -> None:
    """Warnings go to stderr (after the report, where they are seen) in every format, and into the
    JSON/YAML document as well."""
    if output in STRUCTURED:
        print_data(output, {**result.to_dict(), "warnings": warnings})
    else:
        from ..cluster.apply_report import text

        sys.stdout.write(text(result))
    for line in warnings:
        warn(line)
