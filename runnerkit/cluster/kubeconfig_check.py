"""Check the kubeconfig files runnerkit is given before the official loader sees them.

The kubernetes client's loader trusts its input: a file that is not YAML, a list, an alias bomb or a
token file with a trailing newline ends in a traceback (the last one printing the token). Here each
file is read bounded, parsed without aliases, shaped like a kubeconfig, and its token files are read
as client-go reads them (trimmed); every token is registered with the redactor.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import InputError
from ..model import redact
from ..model.yamlsrc import parse
from .files import read_input, read_token


def paths(kubeconfig: str | None, strict: bool = True) -> list[Path]:
    """The kubeconfig files kubectl would read: --kubeconfig, else every existing KUBECONFIG entry,
    else ~/.kube/config (when it exists). A named file that is missing is an error naming it; a
    KUBECONFIG naming no existing file too, unless not strict (doctor then looks for a pod's account)."""
    if kubeconfig:
        path = Path(kubeconfig).expanduser()
        if not path.exists():
            raise InputError(f"--kubeconfig {kubeconfig}: no such file")
        return [path]
    env = os.environ.get("KUBECONFIG", "")
    if env:
        listed = [Path(p).expanduser() for p in env.split(os.pathsep) if p]
        found = [p for p in listed if p.exists()]
        if not found and strict:
            raise InputError(f"KUBECONFIG={env}: no such file; point KUBECONFIG at an existing kubeconfig "
                             "or unset it")
        return found
    default = Path("~/.kube/config").expanduser()
    return [default] if default.exists() else []


def check(path: Path) -> dict:
    """One kubeconfig file, parsed and shaped; its tokens registered as secrets."""
    text = read_input(path)
    if not text.strip():
        raise InputError(f"kubeconfig {path}: the file is empty")
    doc = parse(text, f"kubeconfig {path}").data
    if not isinstance(doc, dict):
        raise InputError(f"kubeconfig {path}: must be a mapping (apiVersion: v1, kind: Config, clusters, "
                         f"users, contexts), not {type(doc).__name__}")
    for key in ("clusters", "users", "contexts"):
        entries = doc.get(key)
        if entries is not None and (not isinstance(entries, list)
                                    or not all(isinstance(e, dict) for e in entries)):
            raise InputError(f"kubeconfig {path}: {key} must be a list of mappings with name: and "
                             f"{key[:-1]}:")
    for i, entry in enumerate(doc.get("users") or []):
        user = entry.get("user")
        if user is None:
            continue
        if not isinstance(user, dict):
            raise InputError(f"kubeconfig {path}: users[{i}].user must be a mapping")
        register_secrets(user)
    return doc


SECRET_NAME = re.compile(r"(?i)token|secret|password|passwd|key")


def register_secrets(user: dict) -> None:
    """Every credential a kubeconfig user can carry, so that no error or trace can print it: the
    token, password and client key, an auth-provider's tokens and client secret, and exec env
    values whose names say they are secret."""
    for name in ("token", "password", "client-key-data"):
        if isinstance(user.get(name), str):
            redact.register(user[name])
    provider = user.get("auth-provider")
    config = provider.get("config") if isinstance(provider, dict) else None
    for name, value in (config.items() if isinstance(config, dict) else ()):
        if isinstance(value, str) and SECRET_NAME.search(str(name)):
            redact.register(value)
    exec_ = user.get("exec")
    for env in ((exec_.get("env") or []) if isinstance(exec_, dict) else []):
        if isinstance(env, dict) and isinstance(env.get("value"), str) and SECRET_NAME.search(str(env.get("name"))):
            redact.register(env["value"])


def check_all(files: list[Path], context: str | None) -> None:
    """Every file checked; the token file of the user the context picks read like client-go does."""
    docs = [(path, check(path)) for path in files]
    context = context or next((d["current-context"] for _, d in docs if d.get("current-context")), None)
    user_name = next((c.get("context", {}).get("user") for _, d in docs for c in d.get("contexts") or []
                      if c.get("name") == context and isinstance(c.get("context"), dict)), None)
    for path, doc in docs:
        for entry in doc.get("users") or []:
            if entry.get("name") != user_name or not isinstance(entry.get("user"), dict):
                continue
            token_file = entry["user"].get("tokenFile")
            if token_file is not None:
                if not isinstance(token_file, str) or not token_file:
                    raise InputError(f"kubeconfig {path}: user {user_name}: tokenFile must be a path")
                read_token(path.parent / Path(token_file).expanduser(),
                           f"kubeconfig {path}: user {user_name}: tokenFile")
            return
