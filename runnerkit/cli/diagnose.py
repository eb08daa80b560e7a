"""runnerkit doctor (inside a job), audit (across the cluster), verify (grants are what the file says)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from .common import add_kube_options, add_output, add_spec_argument, connect, load_spec, print_data, print_json, prose, warn
from .globals import STRUCTURED

if TYPE_CHECKING:
    from ..cluster.protocol import Client
    from ..diagnose.audit import Inventory

FAIL_ON = ("critical", "high", "medium", "none")
AUDIT_NEEDS = ("list on clusterroles, roles, clusterrolebindings, rolebindings, serviceaccounts and configmaps "
               "in all namespaces")


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "doctor", help="inside a job: identity, TLS, namespace and permissions, with fixes",
        description=prose("Diagnose `forbidden` and `x509` failures from where the job runs: which ServiceAccount "
                    "the token belongs to (claims decoded locally, never printed) and when it expires; whether "
                    "the API server is reachable and its certificate verifies with the CA in use (and if not, "
                    "why); which namespace kubectl and helm will act in and why; and, with --need, whether each "
                    "permission is granted (SelfSubjectAccessReview), printing the Role rule and the "
                    "runnerkit.yaml change for each missing one. Exit 0 only when every check passes."),
        epilog="examples:\n"
               "  runnerkit doctor                                   # in a job pod\n"
               "  runnerkit doctor --need helm-deployer --need \"create pods/exec\"\n"
               "  runnerkit doctor --as system:serviceaccount:web-app:web-app-ci --need \"list secrets\"\n"
               "  runnerkit doctor --need helm-deployer --spec runnerkit.yaml -o json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--need", action="append", default=[], metavar="NEED",
                   help="a preset (helm-deployer, viewer, ...) or \"VERB RESOURCE[.GROUP][/SUB]\" such as "
                        "\"list secrets\"; repeatable")
    p.add_argument("--as", dest="as_user", metavar="USER",
                   help="check system:serviceaccount:NAMESPACE:NAME from outside, with SubjectAccessReviews "
                        "(your kubeconfig identity must be allowed to create them)")
    p.add_argument("-n", "--namespace", help="namespace the needs are checked in (default: the one kubectl "
                                             "would use; with --as, the ServiceAccount's)")
    p.add_argument("--spec", metavar="FILE", help="runnerkit.yaml, to name the project in the fixes")
    p.add_argument("--id-token-env", metavar="VAR",
                   help="explain the CI OIDC ID token in $VAR against --spec instead (no cluster needed): "
                        "its claims, whether the API server accepts it, the username and groups it maps "
                        "to and the grants they receive (docs/oidc.md)")
    add_kube_options(p)
    add_output(p, ("text", "json"), "text")
    p.set_defaults(func=cmd_doctor)

    p = commands.add_parser(
        "audit", help="find risky RBAC grants and runner configs across the cluster",
        description=prose("Read RBAC across the cluster with one list call per kind (ClusterRoles, Roles, "
                    "ClusterRoleBindings, RoleBindings, ServiceAccounts, ConfigMaps), resolve aggregated "
                    "ClusterRoles, and report risky grants (cluster-admin or wildcards for ServiceAccounts, "
                    "escalate/bind/impersonate, nodes/proxy, token creation, cluster-wide secrets or exec, "
                    "runner-namespace accounts with cluster-wide rights, grants to system:unauthenticated beyond "
                    "the defaults) and loose GitLab Runner templates, each with why it matters and the fix. "
                    "The API does not tell which OIDC issuers the server trusts: with --spec (issuers:), "
                    "--oidc-issuer or --authentication-config, grants to system:authenticated beyond the "
                    "defaults are flagged too (every job of every repository the issuer signs for is in "
                    "that group), and with --spec, bindings to CI identities the spec does not grant. `system:` subjects and kube-system are left out "
                    "unless --include-system."),
        epilog="examples:\n"
               "  runnerkit audit\n"
               "  runnerkit audit --runner-namespaces-only --fail-on high      # in CI\n"
               "  runnerkit audit -n web-app -n cicd -o json\n"
               "  runnerkit audit -o sarif > runnerkit-audit.sarif\n"
               "  runnerkit audit --spec runnerkit.yaml          # with issuers: the OIDC checks too\n"
               "  runnerkit audit --authentication-config /etc/kubernetes/authn.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", "--namespace", action="append", default=[], metavar="NS",
                   help="only bindings in, and subjects of, this namespace (repeatable)")
    p.add_argument("--runner-namespaces-only", action="store_true",
                   help="only namespaces of runners (their ConfigMaps, their jobs' namespaces, --spec's)")
    p.add_argument("--include-system", action="store_true", help="include system: subjects and kube-system")
    p.add_argument("--spec", metavar="FILE", help="runnerkit.yaml: its runner and project namespaces count "
                                                  "as runner namespaces; its issuers: count as OIDC issuers "
                                                  "of the cluster, and bindings to their identities outside "
                                                  "the spec are flagged")
    p.add_argument("--oidc-issuer", action="append", default=[], metavar="URL",
                   help="the API server accepts OIDC tokens from this issuer (repeatable; e.g. "
                        "https://token.actions.githubusercontent.com): grants to system:authenticated beyond "
                        "the defaults are flagged")
    p.add_argument("--authentication-config", metavar="FILE",
                   help="the API server's --authentication-config file: its jwt issuers count as with "
                        "--oidc-issuer")
    p.add_argument("--fail-on", choices=FAIL_ON, default="medium",
                   help="exit 1 when a finding of this severity or worse exists (default: medium, i.e. any)")
    add_kube_options(p)
    add_output(p, ("table", "text", "json", "sarif"), "table")  # text: the table
    p.set_defaults(func=cmd_audit)

    p = commands.add_parser(
        "verify", help="prove the cluster grants exactly what runnerkit.yaml declares",
        description=prose("For every project (and GitLab runner manager) of the spec: SubjectAccessReviews prove "
                    "each declared grant is effective, and that undeclared operations are denied (secrets "
                    "and workloads in other namespaces, cluster-scoped writes, RBAC writes, exec, token "
                    "creation, impersonation, nodes/proxy); an access matrix per ServiceAccount (verbs x "
                    "resources) shows the result; bindings naming the account that the spec does not render "
                    "are listed. Exit 1 on any drift.\n\n"
                    "Other namespaces are probed where it can matter: kube-system, default, a namespace that "
                    "does not exist (it answers for every namespace without a RoleBinding for the account), "
                    "and each namespace where a RoleBinding names the account or its groups. Questions RBAC "
                    "cannot tell apart (same bindings, same request) share one review, so 500 projects take "
                    "a few hundred reviews; every drift is asked again for its own account. See "
                    "docs/verify.md."),
        epilog="examples:\n"
               "  runnerkit verify runnerkit.yaml\n"
               "  runnerkit verify runnerkit.yaml --project web-app -o json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_spec_argument(p)
    p.add_argument("--project", action="append", default=[], metavar="NAME",
                   help="only this project (repeatable; default: all)")
    p.add_argument("--no-shared-answers", action="store_true",
                   help="ask every account's questions for that account, instead of one review per set of "
                        "questions RBAC cannot tell apart (for webhook or ABAC authorizers that tell "
                        "accounts apart; about 150 reviews per account)")
    add_kube_options(p)
    add_output(p, ("text", "json"), "text")
    p.set_defaults(func=cmd_verify)


# -- doctor ---------------------------------------------------------------------------------------------


def cmd_doctor(args: argparse.Namespace) -> int:
    if args.id_token_env:
        return doctor_id_token(args)
    from ..diagnose import doctor, doctor_report

    spec = None
    if args.spec:
        from .files import read_spec

        spec = read_spec(args.spec)
    report = doctor.run(doctor.Options(args.kubeconfig, args.context, args.as_user, tuple(args.need),
                                       args.namespace, spec))
    if args.output in STRUCTURED:
        print_data(args.output, report.to_dict())
        return 0 if report.ok else 1
    sys.stdout.write(doctor_report.text(report))
    return 0 if report.ok else 1


def doctor_id_token(args: argparse.Namespace) -> int:
    import os
    import time

    from ..diagnose import oidc_explain
    from ..errors import InputError
    from ..model import redact
    from ..model.oidc_credential import claims_of
    from .files import read_spec

    if not args.spec:
        raise InputError("--id-token-env needs --spec runnerkit.yaml: the issuers and identities to explain it by")
    spec = read_spec(args.spec)
    token = os.environ.get(args.id_token_env, "").strip()
    redact.register(token)  # masked in every error and --debug traceback
    if not token:
        raise InputError(f"${args.id_token_env} is empty: GitLab sets it through id_tokens:, GitHub jobs "
                         "can fetch one with `runnerkit credential github --audience A`")
    explanation = oidc_explain.explain(spec, claims_of(token, f"${args.id_token_env}"), time.time())
    if args.output in STRUCTURED:
        print_data(args.output, explanation.to_dict())
    else:
        print("\n".join(oidc_explain.text_report(explanation)))
    return 0 if explanation.ok else 1


# -- audit ----------------------------------------------------------------------------------------------


def collect(client: Client) -> Inventory:
    """One list call per kind, across all namespaces, concurrently (no per-object GETs, no paging)."""
    from ..diagnose.audit import Inventory
    from ..model.kinds import BY_KIND, CONFIG_MAP

    kinds = [BY_KIND["ClusterRole"], BY_KIND["Role"], BY_KIND["ClusterRoleBinding"], BY_KIND["RoleBinding"],
             BY_KIND["ServiceAccount"], CONFIG_MAP]
    return Inventory(*client.parallel(lambda kind: client.list_objects(kind), kinds))


def cmd_audit(args: argparse.Namespace) -> int:
    from ..diagnose import audit_report
    from ..diagnose.audit import Scope, audit
    from ..diagnose.audit_oidc_inputs import learn
    from ..errors import Forbidden

    spec_namespaces: frozenset[str] = frozenset()
    spec = None
    if args.spec:
        from .files import read_spec

        spec = read_spec(args.spec)
        spec_namespaces = frozenset({r.namespace for r in spec.runners.values()}
                                    | {p.namespace for p in spec.projects})
    oidc = learn(spec, args.spec, args.oidc_issuer, args.authentication_config)
    client = connect(args, concurrency=6)
    try:
        inventory = collect(client)
    except Forbidden as e:
        raise Forbidden(f"{e}; audit needs {AUDIT_NEEDS}", 403) from None
    report = audit(inventory, Scope(frozenset(args.namespace) if args.namespace else None,
                                          args.runner_namespaces_only, args.include_system, spec_namespaces,
                                          oidc))
    if args.output in STRUCTURED:
        print_data(args.output, audit_report.to_json(report))
    elif args.output == "sarif":
        print_json(audit_report.to_sarif(report))
    else:
        sys.stdout.write(audit_report.table(report))
    if args.fail_on == "none":
        return 0
    return 1 if report.at_least(args.fail_on.upper()) else 0


# -- verify ---------------------------------------------------------------------------------------------


def cmd_verify(args: argparse.Namespace) -> int:
    from ..diagnose import verify_report
    from ..diagnose.verify_run import progress_line, run
    from ..gitlab.enforcement import check_isolation

    spec = load_spec(args)
    for name in args.project:
        spec.project(name)  # unknown names fail before touching the cluster
    client = connect(args)
    result = run(client, spec, args.project or None, shared=not args.no_shared_answers,
                 progress=progress_line(sys.stderr))
    outcomes = result.outcomes
    chosen = set(args.project or [p.name for p in spec.projects])
    isolation = [c for c in check_isolation(client, spec) if c.project in chosen]
    from ..diagnose import verify_identities

    identities = verify_identities.plan(spec, args.project or None)
    verify_identities.ask(client, identities)
    if not outcomes:
        warn(f"{spec.path}: no projects to verify")
    if args.output in STRUCTURED:
        report = verify_report.to_json(outcomes, isolation, result)
        if identities:
            report["identities"] = verify_identities.to_json(identities)
        print_data(args.output, report)
    else:
        sys.stdout.write(verify_report.text(outcomes, isolation, result))
        sys.stdout.write(verify_identities.text(identities))
    identities_ok = all(not c.drift() for c in identities)
    return 0 if all(o.ok for o in outcomes) and verify_report.isolation_holds(isolation) and identities_ok else 1
