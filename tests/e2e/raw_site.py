"""A site behind a tunnel that records raw bytes, and the proxy that must keep them from it.

The site is a bare TCP listener that keeps every connection and every byte, so a test
sees whether anything of a tunnel reached it. After a refused attempt, a marker sent
through an uncategorised tunnel to the same listener shows that the proxy has done all it
was going to do: only the marker may have arrived. The proxy runs a policy stricter than
the bundled one: reading rich media is blocked for the untrained.
"""

from __future__ import annotations

import os
import socket
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from policy import default_policy_path
from tests.e2e.clients import TIMEOUT, Tunnel, basic_auth, connect
from tests.e2e.conftest import PASSWORDS
from tests.e2e.proxy_process import ORIGIN_ADDRESS, LeewayProcess
from tests.waiting import eventually

BLOCKED = "www.youtube.com"  # rich media: blocked for reading and writing for the untrained
READABLE = "x.com"  # social: trina, who is trained, may read it
UNCATEGORISED = "www.example.org"
MARKER = b"\x00marker: raw bytes through an uncategorised tunnel\n"
RANDOM = b"\x00" + os.urandom(63)  # never the start of TLS or of an HTTP request line
EMPTY_FIRST_LINE = b"\r\nGET / HTTP/1.1\r\nHost: www.youtube.com\r\n\r\n"


@dataclass
class RawOrigin:
    """A TCP listener that keeps what each connection sent, until it closed."""

    listener: socket.socket
    received: list[bytearray] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.listener.getsockname()[1])

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed by stop()
            data = bytearray()
            self.received.append(data)
            threading.Thread(target=self._read, args=(conn, data), daemon=True).start()

    @staticmethod
    def _read(conn: socket.socket, data: bytearray) -> None:
        with conn:
            conn.settimeout(TIMEOUT)
            try:
                while chunk := conn.recv(65536):
                    data.extend(chunk)
            except OSError:
                pass

    def stop(self) -> None:
        self.listener.close()


def start_raw_origin() -> RawOrigin:
    """A raw listener where the test origins listen (the proxy's hosts file names them)."""
    origin = RawOrigin(socket.create_server((ORIGIN_ADDRESS, 0)))
    threading.Thread(target=origin.serve, daemon=True).start()
    return origin


def write_stricter_policy(path: Path) -> Path:
    """The bundled policy at `path`, but reading rich media is blocked for the untrained."""
    default = default_policy_path().read_text()
    stricter = default.replace(
        'categories = ["rich-media"]\nread = "warn"', 'categories = ["rich-media"]\nread = "block"'
    )
    assert stricter != default
    path.write_text(stricter)
    return path


def open_tunnel(proxy: LeewayProcess, host: str, port: int, user: str = "alice") -> Tunnel:
    tunnel = connect(proxy, f"{host}:{port}", headers=basic_auth(user, PASSWORDS[user]))
    assert tunnel.status == 200, tunnel.head
    return tunnel


def tls_inside(
    sock: socket.socket, proxy: LeewayProcess, alpn: list[str] | None, host: str = BLOCKED
) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(proxy.ca))
    if alpn is not None:
        context.set_alpn_protocols(alpn)
    return context.wrap_socket(sock, server_hostname=host)


def closed_by_proxy(sock: socket.socket | ssl.SSLSocket) -> bytes:
    """Everything the proxy sent until it closed the connection (fails on a timeout)."""
    received = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, ssl.SSLEOFError):
            return received
        if not chunk:
            return received
        received += chunk


def only_the_marker_arrives(proxy: LeewayProcess, site: RawOrigin) -> None:
    """Send the marker through an uncategorised tunnel, wait for it, and check it came alone."""
    with open_tunnel(proxy, UNCATEGORISED, site.port).sock as sock:
        sock.sendall(MARKER)
        arrived = eventually(
            lambda: [bytes(d) for d in site.received],
            "the marker at the site",
            until=lambda r: MARKER in r,
            within=10,
        )
    assert arrived == [MARKER], "something of a refused tunnel reached the site"


def refused(proxy: LeewayProcess, category: str, reason: str) -> float:
    body = httpx.get(f"http://127.0.0.1:{proxy.metrics_port}/metrics", timeout=5).text
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            labels = {"category": category, "reason": reason}
            if sample.name == "leeway_tunnels_refused_total" and sample.labels == labels:
                return sample.value
    raise AssertionError(f"no leeway_tunnels_refused_total{{category={category},reason={reason}}}")
