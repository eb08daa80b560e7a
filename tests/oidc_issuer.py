"""Test OIDC issuers: GitHub- and GitLab-shaped claims, RS256 tokens, and an HTTPS issuer on 127.0.0.1.

Claim sets follow the providers' documentation (GitHub: docs.github.com .../security/oidc;
GitLab: docs.gitlab.com/ci/secrets/id_token_authentication): the real claim names and `sub`
formats, with the values a job of the given repository/ref/event would carry.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import ssl
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def github_claims(iss: str, aud: str, repository: str, ref: str = "refs/heads/main",
                  event_name: str = "push", environment: str | None = None,
                  workflow: str | None = None, lifetime: int = 300, now: int | None = None) -> dict:
    owner, _ = repository.split("/")
    now = int(time.time()) if now is None else now
    # GitHub's default sub: the environment wins over a pull request, which wins over the ref.
    if environment:
        sub = f"repo:{repository}:environment:{environment}"
    elif event_name in ("pull_request", "pull_request_target"):
        sub = f"repo:{repository}:pull_request"
    else:
        sub = f"repo:{repository}:ref:{ref}"
    workflow = workflow or f"{repository}/.github/workflows/deploy.yml@{ref}"
    claims = {
        "jti": str(uuid.uuid4()), "sub": sub, "aud": aud, "ref": ref, "sha": "a" * 40,
        "repository": repository, "repository_owner": owner, "repository_owner_id": "65432",
        "repository_id": "123456", "repository_visibility": "private", "run_id": "1", "run_number": "1",
        "run_attempt": "1", "runner_environment": "github-hosted", "actor": "octocat", "actor_id": "1",
        "workflow": "deploy", "head_ref": "", "base_ref": "", "event_name": event_name,
        "ref_type": "tag" if ref.startswith("refs/tags/") else "branch",
        "ref_protected": "false", "workflow_ref": f"{repository}/.github/workflows/deploy.yml@{ref}",
        "workflow_sha": "a" * 40, "job_workflow_ref": workflow, "job_workflow_sha": "b" * 40,
        "iss": iss, "nbf": now - 5, "iat": now - 5, "exp": now + lifetime,
    }
    if environment:
        claims["environment"] = environment
    return claims


def gitlab_claims(iss: str, aud: str, project_path: str, ref: str = "main", ref_type: str = "branch",
                  protected: bool = True, environment: str | None = None, lifetime: int = 300,
                  now: int | None = None) -> dict:
    namespace = project_path.rsplit("/", 1)[0]
    now = int(time.time()) if now is None else now
    claims = {
        "namespace_id": "72", "namespace_path": namespace, "project_id": "20", "project_path": project_path,
        "user_id": "5", "user_login": "jdoe", "user_email": "jdoe@example.com", "user_access_level": "developer",
        "pipeline_id": "574", "pipeline_source": "push", "job_id": "302", "ref": ref, "ref_type": ref_type,
        "ref_path": f"refs/{'heads' if ref_type == 'branch' else 'tags'}/{ref}",
        "ref_protected": "true" if protected else "false", "runner_id": 1,
        "runner_environment": "gitlab-hosted", "sha": "c" * 40, "project_visibility": "private",
        "ci_config_ref_uri": f"gitlab.com/{project_path}//.gitlab-ci.yml@refs/heads/{ref}",
        "ci_config_sha": "c" * 40, "jti": str(uuid.uuid4()), "iss": iss, "iat": now - 5, "nbf": now - 10,
        "exp": now + lifetime, "sub": f"project_path:{project_path}:ref_type:{ref_type}:ref:{ref}", "aud": aud,
    }
    if environment:
        claims.update(environment=environment, environment_protected="true" if protected else "false",
                      deployment_tier="production", environment_action="start")
    return claims


class Keys:
    def __init__(self) -> None:
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex[:16]

    def jwks(self) -> dict:
        numbers = self.private.public_key().public_numbers()
        n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
        return {"keys": [{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid,
                          "n": b64url(n), "e": b64url(numbers.e.to_bytes(3, "big"))}]}

    def sign(self, claims: dict) -> str:
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        signing_input = (b64url(json.dumps(header).encode()) + "." +
                         b64url(json.dumps(claims).encode())).encode()
        signature = self.private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return signing_input.decode() + "." + b64url(signature)


def self_signed_ca_and_cert(host: str = "127.0.0.1") -> tuple[str, bytes, bytes]:
    """(CA PEM, server certificate PEM, server key PEM) for an HTTPS server on host."""
    import ipaddress

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "runnerkit test issuer CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return (ca.public_bytes(serialization.Encoding.PEM).decode(),
            cert.public_bytes(serialization.Encoding.PEM), key_pem)


class IssuerServer:
    """HTTPS on 127.0.0.1 serving OIDC discovery and JWKS for issuers at /github and /gitlab."""

    def __init__(self, tmp: Path, paths: tuple[str, ...] = ("github", "gitlab")) -> None:
        self.ca_pem, cert, key = self_signed_ca_and_cert()
        (tmp / "issuer.crt").write_bytes(cert)
        (tmp / "issuer.key").write_bytes(key)
        self.keys = {p: Keys() for p in paths}
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                outer.requests.append(self.path)
                for p, keys in outer.keys.items():
                    if self.path == f"/{p}/.well-known/openid-configuration":
                        return self.reply({"issuer": outer.url(p), "jwks_uri": outer.url(p) + "/oauth/discovery/keys",
                                           "response_types_supported": ["id_token"],
                                           "subject_types_supported": ["public", "pairwise"],
                                           "id_token_signing_alg_values_supported": ["RS256"]})
                    if self.path == f"/{p}/oauth/discovery/keys":
                        return self.reply(keys.jwks())
                self.send_error(404)

            def reply(self, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tmp / "issuer.crt", tmp / "issuer.key")
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.server.server_address[1]}/{path}"

    def __enter__(self) -> "IssuerServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class GithubTokenEndpoint:
    """Stand-in for GitHub's ACTIONS_ID_TOKEN_REQUEST_URL, answering with tokens from `mint`.

    Every request is recorded as (path, Authorization header); only the job's request token gets a
    token (else 401, as GitHub answers). `tokens` holds every ID token handed out."""

    REQUEST_TOKEN = "job-request-token"
    PATH = "/idtoken?api-version=2.0"

    def __init__(self, mint: Callable[[], str], status: int = 200):
        self.issued: list[float] = []
        self.requests: list[tuple[str, str | None]] = []
        self.headers: list[dict[str, str]] = []
        self.tokens: list[str] = []
        self.status = status  # anything but 200: refuse like GitHub, without a token
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                outer.requests.append((self.path, self.headers["Authorization"]))
                outer.headers.append(dict(self.headers))
                if self.headers["Authorization"] != f"Bearer {outer.REQUEST_TOKEN}":
                    self.send_error(401)
                    return
                if outer.status != 200:
                    self.send_error(outer.status, "forbidden")
                    return
                outer.issued.append(time.time())
                token = mint()
                outer.tokens.append(token)
                body = json.dumps({"count": 1, "value": token}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.vars = {"ACTIONS_ID_TOKEN_REQUEST_TOKEN": self.REQUEST_TOKEN,
                     "ACTIONS_ID_TOKEN_REQUEST_URL": f"http://127.0.0.1:{self.server.server_address[1]}{self.PATH}"}
        self.env = {**os.environ, **self.vars}

    def expected_request(self, audience: str) -> tuple[str, str]:
        """What @actions/core getIDToken sends: the URL plus &audience=, and the request token."""
        return f"{self.PATH}&audience={quote(audience, safe='')}", f"Bearer {self.REQUEST_TOKEN}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
