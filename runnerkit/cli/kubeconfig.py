"""runnerkit kubeconfig (from the pod's ServiceAccount) and runnerkit token (TokenRequest)."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from ..model import redact
from ..errors import Forbidden, InputError, NotFound, Unauthorized
from .files import read_input, read_token, writable_file
from .globals import STRUCTURED
from .common import add_kube_options, add_output, add_spec_argument, connect, load_spec, prose, warn

MIN_TOKEN_SECONDS = 600  # the API server refuses shorter TokenRequests
MAX_TOKEN_SECONDS = 24 * 3600
DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "kubeconfig", help="write a kubeconfig from the pod's ServiceAccount (inside a runner pod)",
        description=prose("Inside a pod: write a kubeconfig (mode 0600) that uses the mounted ServiceAccount: "
                    "server https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT, the mounted "
                    "ca.crt, the token *file* (re-read on every use, so the kubelet's token rotation "
                    "keeps working) and the namespace pinned. Prints the line that sets KUBECONFIG; "
                    "notes go to stderr, so `eval \"$(runnerkit kubeconfig)\"` works. Outside a pod, "
                    "--server, --ca-file, --token-file and --namespace supply what is missing."),
        epilog="examples:\n"
               "  eval \"$(runnerkit kubeconfig)\"             # then kubectl/helm just work\n"
               "  runnerkit kubeconfig --shell github --verify  # in a GitHub job: sets KUBECONFIG for later steps\n"
               "  runnerkit kubeconfig --to ./kubeconfig --server https://k8s.example:6443 \\\n"
               "      --ca-file ca.crt --token-file token --namespace web-app",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--to", metavar="PATH",
                   help="where to write it (default: $RUNNER_TEMP/runnerkit/kubeconfig in a GitHub job, "
                        "else ~/.kube/runnerkit-kubeconfig)")
    p.add_argument("-n", "--namespace", help="namespace to pin (default: the pod's own, from the "
                                             "mounted ServiceAccount's namespace file)")
    p.add_argument("--server", help="API server URL (default: from KUBERNETES_SERVICE_HOST/PORT)")
    p.add_argument("--ca-file", help="CA bundle of the API server (default: the mounted ca.crt)")
    p.add_argument("--token-file", help="bearer token file (default: the mounted token)")
    p.add_argument("--shell", choices=("sh", "fish", "powershell", "github"), default="sh",
                   help="how to print the KUBECONFIG line (default: sh); github appends it to $GITHUB_ENV")
    p.add_argument("--verify", action="store_true",
                   help="then ask the API server who this is and what it may do in the namespace")
    p.set_defaults(func=cmd_kubeconfig)

    p = commands.add_parser(
        "token", help="mint a short-lived token for a project's ServiceAccount (TokenRequest)",
        description=prose("Mint a short-lived token for the project's ServiceAccount through the TokenRequest "
                    "API (create serviceaccounts/token), for runners outside the cluster or GitLab's "
                    "KUBERNETES_BEARER_TOKEN. Never creates a long-lived token Secret. The token is only "
                    "printed when you ask for it (-o raw or -o json); otherwise it goes to a file you "
                    "name with --to, written with mode 0600."),
        epilog="examples:\n"
               "  runnerkit token web-app --duration 1h --to ./token          # bare token in a 0600 file\n"
               "  runnerkit token web-app -o kubeconfig --to ./kubeconfig     # ready kubeconfig with the CA\n"
               "  KUBERNETES_BEARER_TOKEN=$(runnerkit token web-app -o raw)   # print it, explicitly\n"
               "  runnerkit token web-app --audience vault -o json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("project", metavar="PROJECT", help="project name from the spec")
    add_spec_argument(p)
    p.add_argument("--duration", default="1h", help="lifetime, 10m to 24h, e.g. 30m, 1h, 2h30m (default: 1h)")
    p.add_argument("--audience", action="append", default=[], metavar="AUD",
                   help="intended audience (repeatable; default: the API server's own)")
    add_output(p, ("text", "raw", "json", "kubeconfig"), "text")
    p.add_argument("--to", metavar="PATH", help="write the token (text, raw, json) or kubeconfig to PATH "
                                               "with mode 0600 instead of stdout; - for stdout")
    p.add_argument("--server", help="server address for -o kubeconfig (default: the one runnerkit used)")
    add_kube_options(p)
    p.set_defaults(func=cmd_token)


# -- helpers --------------------------------------------------------------------------------------


def write_private(path: Path, text: str) -> None:
    """Write atomically with mode 0600 (the file holds or points at a credential)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # created 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def parse_duration(text: str) -> int:
    m = DURATION.match(text.strip()) if text.strip() else None
    if not m or not any(m.groups()):
        raise InputError(f"--duration {text!r}: write it like 10m, 1h or 2h30m")
    hours, minutes, seconds = (int(g or 0) for g in m.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if not MIN_TOKEN_SECONDS <= total <= MAX_TOKEN_SECONDS:
        raise InputError(f"--duration {text!r}: must be between 10m (the API server's minimum) and 24h; "
                         "short-lived is the point")
    return total


def default_kubeconfig_path() -> Path:
    if os.environ.get("RUNNER_TEMP"):
        return Path(os.environ["RUNNER_TEMP"]) / "runnerkit" / "kubeconfig"
    return Path("~/.kube/runnerkit-kubeconfig").expanduser()


def identity(token: str) -> str | None:
    """Who a ServiceAccount token says it is (from its claims, locally; never the token itself)."""
    from ..cluster.incluster import read_token_facts

    facts = read_token_facts(token)
    return facts.subject if facts else None


def _expiry(token: str) -> datetime | None:
    from ..cluster.incluster import read_token_facts

    facts = read_token_facts(token)
    return facts.expires if facts else None


# -- runnerkit kubeconfig -------------------------------------------------------------------------


def cmd_kubeconfig(args: argparse.Namespace) -> int:
    from ..cluster import kubeconfig as kc
    from ..cluster.incluster import pod_account

    pod = pod_account()
    server = kc.check_server(args.server) if args.server else pod.server
    token_file = Path(args.token_file) if args.token_file else pod.token_file
    ca_file = Path(args.ca_file) if args.ca_file else pod.ca_file
    namespace = args.namespace or pod.namespace()

    missing = []
    if not server:
        missing.append("no API server address: KUBERNETES_SERVICE_HOST is not set, so this is not a "
                       "pod (or its env was cleared); pass --server https://HOST:PORT")
    for path, given, flag, what in ((token_file, args.token_file, "--token-file", "token"),
                                    (ca_file, args.ca_file, "--ca-file", "ca.crt")):
        if path.is_file():
            continue
        if given:
            missing.append(f"{flag} {path}: no such file")
        else:
            missing.append(f"{path} does not exist: no ServiceAccount {what} is mounted "
                           "(automountServiceAccountToken: false on the pod or its ServiceAccount?) or "
                           f"this is not a pod; pass {flag} FILE")
    if not namespace:
        missing.append(f"no namespace: {pod.namespace_file} does not exist; pass --namespace NAME")
    if missing:
        raise InputError("cannot write a kubeconfig:\n" + "\n".join(f"  - {m}" for m in missing))

    assert server and namespace  # checked above: both are in `missing` otherwise
    token = read_token(token_file, "--token-file" if args.token_file else "the mounted token")
    ca_text = read_input(ca_file)
    if "-----BEGIN CERTIFICATE-----" not in ca_text:
        raise InputError(f"{ca_file} holds no PEM certificate; point --ca-file at the cluster CA bundle")

    # abspath, not resolve(): the mounted token is a symlink through ..data that the kubelet swaps on
    # rotation; pinning the resolved target would freeze the first token.
    config = kc.from_token_file(server, os.path.abspath(ca_file), os.path.abspath(token_file), namespace)
    path = writable_file(Path(args.to).expanduser() if args.to else default_kubeconfig_path(), "--to")
    line = kc.export_line(os.path.abspath(path), args.shell)  # refuse an unexportable path before writing
    env_file = os.environ.get("GITHUB_ENV") or ""
    if args.shell == "github" and not env_file:
        raise InputError("--shell github: GITHUB_ENV is not set (not a GitHub Actions step); "
                         "use --shell sh and eval the printed line")
    if args.shell == "github":
        writable_file(Path(env_file), "GITHUB_ENV", must_exist=False)
    write_private(path, kc.to_yaml(config))

    who = identity(token)
    print(f"wrote {path} (mode 0600): server {server}, namespace {namespace}, "
          f"identity {who or 'unknown (token is not a JWT)'}; the token file {token_file} is re-read on "
          "every use, so rotated tokens keep working", file=sys.stderr)
    if args.shell == "github":
        with open(env_file, "a", encoding="utf-8") as f:
            f.write(line + "\n")
        print(f"appended KUBECONFIG={os.path.abspath(path)} to $GITHUB_ENV: later steps of this job use it",
              file=sys.stderr)
    else:
        print(line)
    if args.verify:
        return verify(str(path), namespace, who)
    return 0


def verify(kubeconfig_path: str, namespace: str, who: str | None) -> int:
    """Ask the API server what this identity may do in the namespace; exit 1 if nothing."""
    from ..cluster.client import connect as kube_connect
    from ..model.rbac import granted_rules

    client = kube_connect(kubeconfig_path)
    try:
        status = client.self_rules(namespace)
    except Unauthorized:
        raise Unauthorized(f"the API server rejected the token of {who or 'this ServiceAccount'} (401): "
                           "it expired, was revoked, or is for another cluster") from None
    rules = granted_rules(status)
    print(f"identity: {who or 'unknown'}", file=sys.stderr)
    if not rules:
        print(f"may do NOTHING in namespace {namespace}: is the pod running as the project's "
              "ServiceAccount (`runnerkit github patch-runner`), and are its grants applied "
              "(`runnerkit apply`)?", file=sys.stderr)
        return 1
    print(f"may in namespace {namespace}:", file=sys.stderr)
    for r in rules:
        groups = ",".join(g or "core" for g in r.get("apiGroups") or [""])
        names = f" (only {', '.join(r['resourceNames'])})" if r.get("resourceNames") else ""
        print(f"  {', '.join(r.get('verbs') or [])}: {', '.join(r.get('resources') or [])} [{groups}]{names}",
              file=sys.stderr)
    if status.get("incomplete"):
        print("  (the authorizer could not list everything: other rules may apply)", file=sys.stderr)
    return 0


# -- runnerkit token ------------------------------------------------------------------------------


def cmd_token(args: argparse.Namespace) -> int:
    from ..cluster import kubeconfig as kc

    project = load_spec(args).project(args.project)
    seconds = parse_duration(args.duration)
    if args.output in ("text", "kubeconfig") and not args.to:
        what = "a kubeconfig" if args.output == "kubeconfig" else "the token"
        raise InputError(f"not minting: {what} would go nowhere. Pass --to FILE to write it (mode 0600), "
                         "--to - for stdout, or ask for it explicitly with -o raw or -o json")
    server = kc.check_server(args.server) if args.server else None
    target = writable_file(Path(args.to).expanduser(), "--to") if args.to and args.to != "-" else None

    client = connect(args)
    sa, ns = project.service_account, project.namespace
    try:
        status = client.token_request(ns, sa, seconds, args.audience)
    except NotFound:
        raise NotFound(f"ServiceAccount {sa} in namespace {ns} does not exist (404): provision it with "
                       f"`runnerkit apply {args.file}`", 404) from None
    except Forbidden as e:
        raise Forbidden(f"{e} (minting needs `create` on serviceaccounts/token for {sa} in {ns})", 403) from None
    token = status.get("token") or ""
    expires = status.get("expirationTimestamp", "")
    exp = _expiry(token)
    if exp is not None:
        granted = (exp - datetime.now(timezone.utc)).total_seconds()
        if granted < seconds - 60:
            warn(f"the API server capped the lifetime to {int(granted) // 60}m "
                 "(its --service-account-max-token-expiration)")

    if args.output == "kubeconfig":
        content = kc.to_yaml(kc.from_token(server or client.host, token, ns, client.ca_pem(), f"{sa}@{ns}"))
    elif args.output in STRUCTURED:
        doc = {"serviceAccount": sa, "namespace": ns, "identity": f"system:serviceaccount:{ns}:{sa}",
               "expirationTimestamp": expires, "audiences": args.audience or None, "token": token}
        import yaml

        content = (json.dumps(doc, indent=2) + "\n" if args.output == "json"
                   else yaml.safe_dump(doc, sort_keys=False))
    else:
        # No trailing newline in a file: some readers send it along as part of the header.
        content = token if args.to and args.to != "-" else token + "\n"

    if target is not None:
        write_private(target, content)
        where = f"wrote {args.output if args.output != 'text' else 'the token'} to {args.to} (mode 0600)"
        print(f"{where}: system:serviceaccount:{ns}:{sa}, expires {expires}", file=sys.stderr)
    else:
        sys.stdout.flush()
        out = redact.raw(sys.stdout)  # the user asked for the secret by name: not masked
        out.write(content)
        out.flush()
        print(f"minted a token for system:serviceaccount:{ns}:{sa}, expires {expires}", file=sys.stderr)
    return 0
