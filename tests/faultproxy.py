"""A fault-injecting HTTPS proxy on 127.0.0.1 in front of the real API server (e2e tests only).

It terminates TLS with the API server's own certificate (valid for 127.0.0.1), forwards each
request upstream as the admin (client certificate), and per request may instead answer 429 (with
Retry-After) or 503, reset the connection before answering, or forward and then reset mid-body.
"""

from __future__ import annotations

import http.client
import random
import socket
import ssl
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FAULTS = ("429", "503", "reset", "reset-mid-body")
HOP = {"connection", "keep-alive", "transfer-encoding", "host", "content-length", "authorization"}


class FaultProxy:
    def __init__(self, upstream: str, pki: Path, rate: float, seed: int = 0, faults=FAULTS):
        self.upstream_host, _, port = upstream.removeprefix("https://").partition(":")
        self.upstream_port = int(port or 443)
        self.rate, self.rng, self.faults = rate, random.Random(seed), faults
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {f: 0 for f in FAULTS} | {"forwarded": 0}
        self.upstream_tls = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self.upstream_tls.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_one(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                fault = proxy.pick()
                if fault in ("429", "503"):
                    data = b'{"kind":"Status","message":"injected fault"}'
                    self.send_response(int(fault))
                    if fault == "429":
                        self.send_header("Retry-After", "0")
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                if fault == "reset":
                    return self.reset()
                status, headers, data = proxy.forward(self.command, self.path, body, self.headers)
                self.send_response(status)
                for k, v in headers:
                    if k.lower() not in HOP:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if fault == "reset-mid-body":
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    return self.reset()
                self.wfile.write(data)

            def reset(self):
                self.close_connection = True
                try:
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                except OSError:
                    pass

            def finish(self):
                try:
                    super().finish()
                except (OSError, ValueError):
                    pass

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_one

        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(str(pki / "apiserver.crt"), str(pki / "apiserver.key"))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def pick(self) -> str | None:
        with self.lock:
            fault = self.rng.choice(self.faults) if self.rng.random() < self.rate else None
            self.counts[fault or "forwarded"] += 1
            return fault

    def forward(self, method, path, body, headers):
        conn = http.client.HTTPSConnection(self.upstream_host, self.upstream_port, context=self.upstream_tls,
                                           timeout=60)
        try:
            conn.request(method, path, body=body,
                         headers={k: v for k, v in headers.items() if k.lower() not in HOP})
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
