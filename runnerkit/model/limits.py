"""Bounds on what runnerkit reads and does, so hostile or mistaken input fails fast instead of
eating memory or hanging. Documented in docs/safety.md."""

from __future__ import annotations

MAX_INPUT_BYTES = 5 * 1024 * 1024  # spec, values, TOML, kubeconfig: a 500-project spec is ~150 KiB
MAX_TOKEN_BYTES = 64 * 1024  # a ServiceAccount JWT is ~1 KiB; client-go reads files far larger as errors
MAX_YAML_DEPTH = 64  # a spec is 6 levels deep; Helm values rarely pass 15
MIN_CONCURRENCY, MAX_CONCURRENCY = 1, 256
ANNOTATIONS_TOTAL_BYTES = 256 * 1024  # Kubernetes' TotalAnnotationSizeLimitB


def human_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}".replace(".0 ", " ")
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"

