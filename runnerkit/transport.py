"""HTTP to the API server on one urllib3 connection pool, without the generated client in the way.

Two ways in. `from_kubeconfig` reads the common kubeconfig shapes itself (client certificate or
bearer token, CA data or file: what kind, k3s, kubeadm and `runnerkit kubeconfig` write) and so
never imports `kubernetes`, which costs ~0.2 s of CPU before the first request. Anything else
(exec plugins, auth providers, proxies, several KUBECONFIG files, in-cluster) returns None and
kube.connect uses the kubernetes client's loader, then `from_api_client` wraps its pool.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

from . import __version__

CLUSTER_KEYS = {"server", "certificate-authority", "certificate-authority-data", "insecure-skip-tls-verify",
                "tls-server-name", "extensions"}
USER_KEYS = {"client-certificate", "client-certificate-data", "client-key", "client-key-data", "token",
             "tokenFile", "extensions"}


class Transport:
    def __init__(self, host: str, open_: Callable[..., Any], auth: Callable[[], dict], ca: bytes | None):
        import urllib3

        self.host = host
        self._open = open_
        self._auth = auth
        self._timeout = urllib3.Timeout(connect=10, read=60)
        self._headers = {"Accept": "application/json", "User-Agent": f"runnerkit/{__version__}"}
        self.ca = ca

    def send(self, method: str, target: str, payload: bytes | None, content_type: str) -> tuple[int, bytes]:
        headers = {**self._headers, **self._auth()}
        if payload is not None:
            headers["Content-Type"] = content_type
        response = self._open(method, target, body=payload, headers=headers, timeout=self._timeout,
                              preload_content=True)
        return response.status, response.data


def from_api_client(api_client: Any) -> Transport:
    """Requests straight onto the pool the kubernetes client built (TLS, client certificates, proxy),
    skipping its per-request work: parameter sanitising, header merging, content-type regexes."""
    import urllib3

    configuration = api_client.configuration
    host = configuration.host.rstrip("/")
    manager = api_client.rest_client.pool_manager
    if type(manager) is urllib3.PoolManager:  # no proxy: talk to the one host pool directly
        open_ = _pool_opener(manager.connection_from_url(host), host)
    else:  # proxies need the absolute URL and their own routing
        def open_(method: str, target: str, **kw: Any) -> Any:
            return manager.urlopen(method, host + target, **kw)

    def auth() -> dict:
        # Per request, as the generated client does: this runs the kubeconfig's token refresh hook
        # (exec plugins, OIDC, in-cluster token rotation) when there is one.
        return {a["key"]: a["value"] for a in configuration.auth_settings().values() if a.get("value")}

    ca = None
    if configuration.ssl_ca_cert:
        try:
            ca = Path(configuration.ssl_ca_cert).read_bytes()
        except OSError:
            pass
    return Transport(host, open_, auth, ca)


def from_kubeconfig(kubeconfig: str | None, context: str | None, maxsize: int) -> Transport | None:
    """A transport for a plain kubeconfig, or None when it needs the kubernetes client's loader
    (which also reports whatever is wrong with it: a missing file, a bad certificate)."""
    settings = _plain_settings(kubeconfig, context)
    if settings is None:
        return None
    import ssl

    try:
        return _plain_transport(*settings, maxsize)
    except (OSError, ValueError, ssl.SSLError):
        return None


def _plain_transport(server: str, cluster: dict, user: dict, base: Path, maxsize: int) -> Transport:
    import ssl

    import urllib3

    url = urllib3.util.parse_url(server)
    ca = _file_or_data(cluster, "certificate-authority", base)
    if url.scheme == "http":
        pool = urllib3.HTTPConnectionPool(url.host, url.port, maxsize=maxsize)
    else:
        context = urllib3.util.ssl_.create_urllib3_context()
        if cluster.get("insecure-skip-tls-verify"):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            ca = None
        elif ca:
            context.load_verify_locations(cadata=ca.decode())
        else:
            context.load_default_certs()
        cert, key = _file_or_data(user, "client-certificate", base), _file_or_data(user, "client-key", base)
        if cert and key:
            _load_client_certificate(context, cert, key)
        pool = urllib3.HTTPSConnectionPool(
            url.host, url.port, maxsize=maxsize, ssl_context=context,
            cert_reqs=context.verify_mode, server_hostname=cluster.get("tls-server-name"))
    token = _file_or_data(user, "token", base, data_key="token", file_key="tokenFile")
    headers = {"authorization": f"Bearer {token.decode().strip()}"} if token else {}
    host = server.rstrip("/")
    return Transport(host, _pool_opener(pool, host), lambda: headers, ca)


def _plain_settings(kubeconfig: str | None, context: str | None) -> tuple[str, dict, dict, Path] | None:
    import urllib.request

    if not kubeconfig:
        env = os.environ.get("KUBECONFIG")
        if env and os.pathsep in env.strip(os.pathsep):
            return None  # several files merge: leave that to the real loader
        kubeconfig = (env or "").strip(os.pathsep) or str(Path("~/.kube/config").expanduser())
    path = Path(kubeconfig)
    try:
        import yaml

        doc = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        name = context or doc["current-context"]
        ctx = _named(doc, "contexts", name)["context"]
        cluster = _named(doc, "clusters", ctx["cluster"])["cluster"]
        user = _named(doc, "users", ctx["user"])["user"] if ctx.get("user") else {}
        server = cluster["server"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError, StopIteration, yaml.YAMLError):
        return None  # the real loader reports what is wrong
    user = user or {}
    if (set(cluster) - CLUSTER_KEYS or set(user) - USER_KEYS or set(ctx) - {"cluster", "user", "namespace", "extensions"}
            or not isinstance(server, str) or not server.startswith(("https://", "http://"))):
        return None
    scheme = server.split(":", 1)[0]
    proxies = urllib.request.getproxies()
    if (scheme in proxies or "all" in proxies) and not urllib.request.proxy_bypass(
            server.split("://", 1)[1].split("/", 1)[0]):
        return None  # proxies from the environment: the kubernetes client resolves those
    return server, cluster, user, path.parent.absolute()


def _named(doc: dict, section: str, name: str) -> dict:
    return next(item for item in doc[section] if item["name"] == name)


def _file_or_data(section: dict, key: str, base: Path, *, data_key: str | None = None,
                  file_key: str | None = None) -> bytes | None:
    """KEY-data (base64; the token is plain) wins over the file KEY, relative to the kubeconfig."""
    data_key, file_key = data_key or f"{key}-data", file_key or key
    if section.get(data_key):
        value = section[data_key]
        return value.encode() if data_key == "token" else base64.b64decode(value)
    if section.get(file_key):
        return (base / section[file_key]).read_bytes()
    return None


def _load_client_certificate(context: Any, cert: bytes, key: bytes) -> None:
    """ssl only loads key pairs from files: write them for the moment it reads them (mode 0600)."""
    with tempfile.TemporaryDirectory(prefix="runnerkit-") as tmp:
        paths = []
        for name, content in (("cert.pem", cert), ("key.pem", key)):
            path = os.path.join(tmp, name)
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
                f.write(content)
            paths.append(path)
        context.load_cert_chain(*paths)


def _pool_opener(pool: Any, host: str) -> Callable[..., Any]:
    import urllib3

    base = urllib3.util.parse_url(host).path or ""  # e.g. a Rancher /k8s/clusters/ID

    def open_(method: str, target: str, **kw: Any) -> Any:
        return pool.urlopen(method, base + target, **kw)
    return open_


def query_string(query: dict | None) -> str:
    params = [f"{k}={quote(str(v).lower() if isinstance(v, bool) else str(v))}"
              for k, v in (query or {}).items() if v is not None]
    return "?" + "&".join(params) if params else ""


def encode(body: Any) -> bytes | None:
    if body is None or isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    # JSON is YAML too, so apply-patch+yaml bodies are sent as JSON like every other body.
    return json.dumps(body, separators=(",", ":")).encode()
