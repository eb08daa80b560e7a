"""Reach the API server and verify its certificate like client-go does, and when that fails, say why:
not reachable, a CA that did not sign the server's certificate, or a host name missing from its SANs.
"""

from __future__ import annotations

import os
import re
import socket
import ssl
import tempfile
from typing import Any
from dataclasses import dataclass, field
from urllib.parse import urlparse

HOSTNAME_MISMATCH = {62, 64}  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
EXPIRED = 10
PEM_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


@dataclass
class Probe:
    host: str
    port: int
    reachable: bool = False
    verified: bool = False
    problem: str | None = None  # unreachable | bad-ca | wrong-ca | hostname | expired | tls
    message: str = ""
    sans: list[str] = field(default_factory=list)
    server_issuer: str | None = None
    ca_subjects: list[str] = field(default_factory=list)


def split_server(server: str) -> tuple[str, int]:
    url = urlparse(server)
    if url.scheme != "https" or not url.hostname:
        raise ValueError(f"{server!r} is not an https:// URL")
    return url.hostname, url.port or 443


def _name(rdns: Any) -> str:
    short = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU"}
    return ", ".join(f"{short.get(k, k)}={v}" for rdn in rdns or () for k, v in rdn)


def describe_der(der: bytes) -> dict | None:
    """Subject, issuer and SANs of a DER certificate, without a third-party X.509 library."""
    fd, path = tempfile.mkstemp(suffix=".pem")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(ssl.DER_cert_to_PEM_cert(der))
        return ssl._ssl._test_decode_cert(path)  # type: ignore[attr-defined]  # CPython's decoder
    except Exception:  # noqa: BLE001 - description only; the verdict does not depend on it
        return None
    finally:
        os.unlink(path)


def pem_subjects(pem: bytes) -> list[str]:
    out = []
    for block in PEM_BLOCK.findall(pem):
        try:
            info = describe_der(ssl.PEM_cert_to_DER_cert(block.decode("ascii")))
        except ValueError:
            info = None
        if info:
            out.append(_name(info.get("subject")))
    return out


def _sans(cert: dict | None) -> list[str]:
    return [v for _, v in (cert or {}).get("subjectAltName", ())]


def _connect(host: str, port: int, timeout: float) -> socket.socket:
    return socket.create_connection((host, port), timeout=timeout)


def probe(server: str, ca_pem: bytes | None, timeout: float = 5.0, insecure: bool = False) -> Probe:
    host, port = split_server(server)
    result = Probe(host, port)
    try:
        sock = _connect(host, port, timeout)
    except socket.gaierror as e:
        result.problem, result.message = "unreachable", f"cannot resolve {host}: {e.strerror or e}"
        return result
    except OSError as e:
        result.problem, result.message = "unreachable", f"cannot connect to {host}:{port}: {e.strerror or e}"
        return result
    result.reachable = True
    if insecure:
        sock.close()
        result.message = "certificate not verified: insecure-skip-tls-verify is set"
        return result
    try:
        ctx = ssl.create_default_context(cadata=ca_pem.decode("ascii")) if ca_pem else ssl.create_default_context()
    except (ssl.SSLError, ValueError, UnicodeDecodeError) as e:
        sock.close()
        result.problem, result.message = "bad-ca", f"the CA bundle holds no usable certificate ({e})"
        return result
    result.ca_subjects = pem_subjects(ca_pem) if ca_pem else []
    try:
        with ctx.wrap_socket(sock, server_hostname=host) as tls:
            result.verified = True
            result.sans = _sans(tls.getpeercert())
            result.message = "certificate verified"
            return result
    except ssl.SSLCertVerificationError as e:
        code, text = e.verify_code, e.verify_message
    except (ssl.SSLError, OSError) as e:
        result.problem, result.message = "tls", f"TLS handshake failed: {e}"
        return result
    # Look again without verifying, only to describe what the server presented.
    peer = None
    try:
        loose = ssl.create_default_context()
        loose.check_hostname, loose.verify_mode = False, ssl.CERT_NONE
        with loose.wrap_socket(_connect(host, port, timeout), server_hostname=host) as tls:
            der = tls.getpeercert(binary_form=True)
            peer = describe_der(der) if der else None
    except (ssl.SSLError, OSError):
        pass
    result.sans = _sans(peer)
    result.server_issuer = _name(peer.get("issuer")) if peer else None
    if code in HOSTNAME_MISMATCH:
        result.problem = "hostname"
        result.message = (f"the certificate is not valid for {host}: it names "
                          + (", ".join(result.sans) or "no subject alternative names"))
    elif code == EXPIRED:
        result.problem, result.message = "expired", f"the server's certificate has expired ({text})"
    else:
        result.problem = "wrong-ca"
        issuer = f"issued by {result.server_issuer}" if result.server_issuer else "its certificate"
        cas = ", ".join(result.ca_subjects) or "the system's trusted CAs"
        result.message = f"x509: certificate signed by unknown authority: {issuer}, but the CA is {cas} ({text})"
    return result
