"""runnerkit: least-privilege Kubernetes access for CI runners."""

__version__ = "0.1.0"
