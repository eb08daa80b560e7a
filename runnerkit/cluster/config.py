"""Where the cluster is: the one resolution of cluster access every command uses, like kubectl:
--kubeconfig, else $KUBECONFIG, else ~/.kube/config, else the pod's mounted ServiceAccount."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from .incluster import sa_dir
from .kubeconfig_check import check

HOME_KUBECONFIG = "~/.kube/config"


@dataclass(frozen=True)
class ClusterSource:
    """A kubeconfig (kubeconfig None: $KUBECONFIG or ~/.kube/config, as the official loader reads
    them) or the in-cluster account mounted at `account`."""

    kind: str  # "kubeconfig" or "in-cluster"
    kubeconfig: str | None = None
    context: str | None = None
    account: Path | None = None


def in_cluster() -> ClusterSource:
    return ClusterSource("in-cluster", account=sa_dir())


def resolve(kubeconfig: str | None, context: str | None) -> ClusterSource:
    if kubeconfig or os.environ.get("KUBECONFIG") or Path(HOME_KUBECONFIG).expanduser().exists():
        if kubeconfig and not Path(kubeconfig).exists():
            raise InputError(f"--kubeconfig {kubeconfig}: no such file")
        return ClusterSource("kubeconfig", kubeconfig, context)
    if os.environ.get("KUBERNETES_SERVICE_HOST") and (sa_dir() / "token").exists():
        if context:
            raise InputError("--context needs a kubeconfig; in a pod there is only the in-cluster one")
        return in_cluster()
    raise InputError("no cluster to talk to: pass --kubeconfig FILE, set KUBECONFIG, create "
                     "~/.kube/config, or run inside a pod with a ServiceAccount")


def load_kubeconfigs(paths: list[str]) -> list[tuple[str, dict]]:
    """(path, document) of each kubeconfig file, for kubectl's merge (diagnose/doctor_rules.py); each
    read bounded, without aliases, shaped like a kubeconfig, its tokens registered with the redactor."""
    return [(p, check(Path(p))) for p in paths]
