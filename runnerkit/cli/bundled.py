"""The Helm chart and the CI templates that ship inside the package, and writing them out.

In the repository, runnerkit/_data/chart and runnerkit/_data/ci-templates are symlinks to
charts/runnerkit-tenants and ci-templates/; a wheel holds copies of them."""

from __future__ import annotations

import stat
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from ..errors import InputError


@dataclass(frozen=True)
class Bundle:
    name: str          # `runnerkit export NAME DIR`
    source: str        # under runnerkit/_data
    what: str
    next_step: str     # printed after a successful export; {dir} is the target


BUNDLES = {b.name: b for b in (
    Bundle("chart", "chart", "the runnerkit-tenants Helm chart",
           "runnerkit render --format helm-values > values.yaml && "
           "helm upgrade --install tenants {dir} -f values.yaml"),
    Bundle("gitlab-component", "ci-templates/gitlab", "the runnerkit GitLab CI/CD component "
           "(templates runnerkit-kube.yml and runnerkit-oidc.yml, README, include examples)",
           "push {dir} as its own GitLab project, tag a release, and include "
           "component: $CI_SERVER_FQDN/GROUP/PROJECT/runnerkit-kube@TAG or .../runnerkit-oidc@TAG "
           "(see {dir}/README.md)"),
    Bundle("github-action", "ci-templates/github/setup-kube", "the setup-kube GitHub composite action "
           "(ServiceAccount or keyless OIDC mode)",
           "commit {dir} to the repository; `runnerkit snippet github PROJECT` uses it as "
           "./.github/actions/setup-kube"),
)}

# Where each bundle is meant to go when the user has no opinion: the paths the snippets use.
DEFAULT_DIRS = {"chart": "runnerkit-tenants", "gitlab-component": "runnerkit-ci",
                "github-action": ".github/actions/setup-kube"}


def root(bundle: Bundle) -> Traversable:
    node = resources.files("runnerkit").joinpath("_data")
    for part in bundle.source.split("/"):
        node = node.joinpath(part)
    return node


def files(bundle: Bundle) -> dict[str, bytes]:
    """Relative path -> content, for every file of the bundle."""
    out: dict[str, bytes] = {}

    def walk(node: Traversable, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.name == "__pycache__":
                continue
            if child.is_dir():
                walk(child, f"{prefix}{child.name}/")
            else:
                out[prefix + child.name] = child.read_bytes()

    walk(root(bundle), "")
    return out


def export(name: str, target: Path, force: bool = False) -> list[Path]:
    """Write the bundle into `target` (created if needed). Refuses to overwrite files unless `force`:
    nothing is written when any file would be overwritten."""
    bundle = BUNDLES[name]
    content = files(bundle)
    if target.exists() and not target.is_dir():
        raise InputError(f"{target} is a file; pass a directory to `runnerkit export {name}`")
    clashes = [rel for rel in content if (target / rel).exists()]
    if clashes and not force:
        raise InputError(f"{target / clashes[0]} exists ({len(clashes)} file(s) would be overwritten); "
                         "pass --force to overwrite, or choose an empty directory; nothing was written")
    written = []
    for rel, data in content.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if path.suffix == ".sh":
            path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        written.append(path)
    return written
