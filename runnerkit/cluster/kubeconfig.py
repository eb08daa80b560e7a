"""Kubeconfig documents as plain dicts, and the shell lines that point KUBECONFIG at them.

Two shapes: one that references a pod's mounted ServiceAccount files (`tokenFile`, so the token the
kubelet rotates keeps working), and one that embeds a minted short-lived token and the cluster CA.
Pure: no file or network access here.
"""

from __future__ import annotations

import base64
import shlex

import yaml

from ..errors import InputError

CLUSTER = "kubernetes"
USER = "serviceaccount"
CONTEXT = "runnerkit"
SHELLS = ("sh", "fish", "powershell", "github")


def check_server(server: str) -> str:
    if not server.startswith("https://") or len(server) <= len("https://"):
        raise InputError(f"--server {server!r}: must be an https:// URL of the Kubernetes API, "
                         "e.g. https://10.0.0.1:443")
    return server.rstrip("/")


def _document(cluster: dict, user: dict, namespace: str, user_name: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CLUSTER, "cluster": cluster}],
        "users": [{"name": user_name, "user": user}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CLUSTER, "user": user_name,
                                                   "namespace": namespace}}],
        "current-context": CONTEXT,
        "preferences": {},
    }


def from_token_file(server: str, ca_file: str, token_file: str, namespace: str) -> dict:
    """A kubeconfig that reads the token from a file on every use (kubectl, helm and client-go do)."""
    return _document({"server": server, "certificate-authority": ca_file},
                     {"tokenFile": token_file}, namespace, USER)


def from_token(server: str, token: str, namespace: str, ca_pem: bytes | None,
               user_name: str = USER) -> dict:
    """A self-contained kubeconfig with a bearer token (and the CA, when the cluster has its own)."""
    cluster: dict = {"server": server}
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    return _document(cluster, {"token": token}, namespace, user_name)


def to_yaml(config: dict) -> str:
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=False)


def export_line(path: str, shell: str) -> str:
    """The line that sets KUBECONFIG in `shell`; for "github" the line to append to $GITHUB_ENV."""
    if "\n" in path or "\r" in path:
        raise InputError(f"{path!r}: a kubeconfig path with a line break cannot be exported")
    if shell == "sh":
        return f"export KUBECONFIG={shlex.quote(path)}"
    if shell == "fish":
        return "set -gx KUBECONFIG '" + path.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if shell == "powershell":
        return "$env:KUBECONFIG = '" + path.replace("'", "''") + "'"
    if shell == "github":
        return f"KUBECONFIG={path}"
    raise InputError(f"--shell {shell!r}: choose one of {', '.join(SHELLS)}")
