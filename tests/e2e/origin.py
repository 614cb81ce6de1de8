"""A local origin server, plain and TLS, that records every request it receives.

It answers each request with JSON describing it, so tests can check what a site saw
(and that credentials and identity headers never reached it).
"""

from __future__ import annotations

import hashlib
import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.e2e.proxy_process import ORIGIN_ADDRESS


@dataclass(frozen=True)
class Seen:
    method: str
    host: str
    path: str
    headers: dict[str, str]
    body_length: int = 0
    body_sha256: str = ""


@dataclass
class Origin:
    server: ThreadingHTTPServer
    seen: list[Seen] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def requests_for(self, host: str) -> list[Seen]:
        return [s for s in self.seen if s.host.split(":")[0] == host]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(origin_ref: list[Origin]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            body = self._body()
            seen = Seen(
                self.command,
                self.headers.get("Host", ""),
                self.path,
                dict(self.headers.items()),
                len(body),
                hashlib.sha256(body).hexdigest(),
            )
            origin_ref[0].seen.append(seen)
            body = json.dumps({"origin": True, "method": seen.method, "path": seen.path}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _body(self) -> bytes:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                chunks = []
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def start_origin(
    host: str = ORIGIN_ADDRESS, tls: tuple[Path, Path] | None = None, *, port: int = 0
) -> Origin:
    ref: list[Origin] = []
    server = ThreadingHTTPServer((host, port), _handler(ref))
    server.daemon_threads = True
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
        server.socket = context.wrap_socket(server.socket, server_side=True)
    origin = Origin(server)
    ref.append(origin)
    # A short poll interval: `stop()` waits for one.
    serve = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    serve.start()
    return origin
