"""runnerkit credential github|gitlab (kubectl exec plugin) and runnerkit credential kubeconfig."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from ..errors import InputError
from ..model import redact
from .common import prose
from .files import read_input, writable_file
from .kubeconfig import write_private

DEFAULT_VARIABLE = "RUNNERKIT_ID_TOKEN"


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "credential", help="keyless CI access: OIDC ID token -> ExecCredential (kubectl exec plugin)",
        description=prose("Give kubectl and helm the CI job's own OIDC ID token, so no Kubernetes "
                          "credential is stored anywhere. `credential github|gitlab` is the exec "
                          "plugin: it prints an ExecCredential (client.authentication.k8s.io/v1) with the "
                          "token's expiry, and kubectl runs it again when that has passed. `credential "
                          "kubeconfig` writes a kubeconfig that runs it. The API server must trust the "
                          "issuer: `runnerkit render --format authentication-config` (docs/oidc.md)."),
        epilog="examples:\n"
               "  runnerkit credential kubeconfig github --audience https://k8s.example.com \\\n"
               "      --server https://k8s.example.com:6443 --ca-file ca.crt -n web-app --to kubeconfig\n"
               "  runnerkit credential github --audience https://k8s.example.com   # what kubectl runs",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    which = p.add_subparsers(dest="source", metavar="SOURCE", required=True)
    gh = which.add_parser("github", help="fetch a fresh ID token (needs permissions: id-token: write)",
                          description="Fetch an ID token from ACTIONS_ID_TOKEN_REQUEST_URL for --audience "
                                      "and print it as an ExecCredential on stdout (only there).")
    gl = which.add_parser("gitlab", help="read the job's id_tokens variable",
                          description="Read the ID token GitLab put in the id_tokens variable, check its "
                                      "audience and expiry, print it as an ExecCredential on stdout.")
    for sp in (gh, gl):
        sp.add_argument("--audience", required=True, help="the audience the API server expects "
                                                          "(issuers[].audience in runnerkit.yaml)")
        sp.set_defaults(func=cmd_credential)
    gl.add_argument("--variable", default=DEFAULT_VARIABLE, metavar="NAME",
                    help=f"the id_tokens variable name (default: {DEFAULT_VARIABLE})")

    k = which.add_parser("kubeconfig", help="print or write a kubeconfig that runs the exec plugin",
                         description="A kubeconfig for a CI job whose user is `runnerkit credential CI`: "
                                     "it contains no credential at all.")
    k.add_argument("ci", choices=("github", "gitlab"), help="which CI system's ID token to use")
    k.add_argument("--audience", required=True, help="the audience the API server expects")
    k.add_argument("--server", required=True, help="the API server's https URL")
    k.add_argument("--ca-file", help="the API server's CA bundle (leave out for a publicly trusted one)")
    k.add_argument("-n", "--namespace", help="namespace to pin (the project's)")
    k.add_argument("--variable", help=f"gitlab: the id_tokens variable (default: {DEFAULT_VARIABLE})")
    k.add_argument("--command", default="runnerkit", help="how the job runs runnerkit (default: runnerkit)")
    k.add_argument("--to", metavar="PATH", help="write it to PATH (mode 0600) instead of stdout")
    k.set_defaults(func=cmd_kubeconfig)


def cmd_credential(args: argparse.Namespace) -> int:
    from ..model import oidc_credential as oc

    if args.source == "github":
        from ..github import idtoken

        token = idtoken.fetch(dict(os.environ), args.audience)
        source = "GitHub's ID token endpoint"
    else:
        source = f"${args.variable}"
        token = os.environ.get(args.variable, "").strip()
        if not token:
            raise InputError(f"{source} is empty: declare it in the job, `id_tokens: {args.variable}: "
                             f"aud: {args.audience}`, or name yours with --variable")
    redact.register(token)  # masked in every error and --debug traceback
    now = time.time()
    expires = oc.check_token(oc.claims_of(token, source), source, args.audience, now)
    sys.stdout.flush()
    out = redact.raw(sys.stdout)  # handing the token to kubectl on stdout is the plugin's job: not masked
    out.write(json.dumps(oc.exec_credential(token, expires, now)) + "\n")
    out.flush()
    return 0


def cmd_kubeconfig(args: argparse.Namespace) -> int:
    from ..model import oidc_credential as oc
    from ..cluster.kubeconfig import check_server, to_yaml

    target = writable_file(Path(args.to).expanduser(), "--to") if args.to else None
    ca = read_input(Path(args.ca_file)).encode() if args.ca_file else None
    variable = args.variable if args.ci == "gitlab" else None
    if args.variable and args.ci != "gitlab":
        raise InputError("--variable is for gitlab (the id_tokens variable); github fetches its token")
    doc = oc.kubeconfig(check_server(args.server), ca, args.namespace, args.ci, args.audience,
                        args.command, variable)
    text = to_yaml(doc)
    if target is None:
        sys.stdout.write(text)
        return 0
    write_private(target, text)
    print(f"wrote {target}: export KUBECONFIG={target}", file=sys.stderr)
    return 0
