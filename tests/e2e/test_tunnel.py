"""Tunnels to categorised sites: never raw bytes, and nothing at all when blocked.

The site behind each tunnel is a bare TCP listener that records every connection and
every byte, so a test sees whether anything of the tunnel reached it. After a refused
attempt, a marker sent through an uncategorised tunnel to the same listener shows that
the proxy has done all it was going to do: only the marker may have arrived.
"""

from __future__ import annotations

import os
import re
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from policy import default_policy_path
from tests.e2e.clients import TIMEOUT, Tunnel, basic_auth, connect
from tests.e2e.conftest import PASSWORDS, Proxies
from tests.e2e.origin import Origin
from tests.e2e.proxy_process import LeewayProcess
from tests.waiting import eventually

BLOCKED = "www.youtube.com"  # rich media: blocked for reading and writing for the untrained
READABLE = "x.com"  # social: trina, who is trained, may read it
UNCATEGORISED = "www.example.org"
MARKER = b"\x00marker: raw bytes through an uncategorised tunnel\n"


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


@pytest.fixture
def site(module_http_origin: Origin) -> Iterator[RawOrigin]:
    """A raw listener where the test origins listen (the proxy's hosts file names them)."""
    host = module_http_origin.server.server_address[0]
    listener = socket.create_server((str(host), 0))
    origin = RawOrigin(listener)
    threading.Thread(target=origin.serve, daemon=True).start()
    yield origin
    origin.stop()


@pytest.fixture(scope="module")
def stricter_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled policy, but reading rich media is blocked for the untrained."""
    policy = tmp_path_factory.mktemp("policy") / "policy.toml"
    default = default_policy_path().read_text()
    stricter = default.replace(
        'categories = ["rich-media"]\nread = "warn"', 'categories = ["rich-media"]\nread = "block"'
    )
    assert stricter != default
    policy.write_text(stricter)
    return policy


@pytest.fixture(scope="module")
def proxy(module_proxies: Proxies, htpasswd: Path, stricter_policy: Path) -> LeewayProcess:
    """Intercepting, everyone logs in, on the stricter policy."""
    return module_proxies.start("--proxyauth", f"@{htpasswd}", "--policy", str(stricter_policy))


def open_tunnel(proxy: LeewayProcess, host: str, port: int, user: str = "alice") -> Tunnel:
    tunnel = connect(proxy, f"{host}:{port}", headers=basic_auth(user, PASSWORDS[user]))
    assert tunnel.status == 200, tunnel.head
    return tunnel


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


RANDOM = b"\x00" + os.urandom(63)  # never the start of TLS or of an HTTP request line
EMPTY_FIRST_LINE = b"\r\nGET / HTTP/1.1\r\nHost: www.youtube.com\r\n\r\n"


@dataclass(frozen=True)
class Raw:
    host: str
    category: str
    payload: bytes
    tls: bool = False  # inside TLS without ALPN: mitmproxy looks at the bytes again
    user: str = "alice"


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(Raw(BLOCKED, "rich-media", RANDOM), id="random bytes"),
        pytest.param(Raw(BLOCKED, "rich-media", b"SSH-2.0-OpenSSH_9.6\r\n"), id="ssh greeting"),
        pytest.param(Raw(BLOCKED, "rich-media", EMPTY_FIRST_LINE), id="empty first line"),
        pytest.param(Raw(BLOCKED, "rich-media", RANDOM, tls=True), id="tls, raw inside"),
        pytest.param(
            Raw(BLOCKED, "rich-media", EMPTY_FIRST_LINE, tls=True), id="tls, empty first line"
        ),
        # The policy decides requests; raw bytes carry none, so nobody may send them.
        pytest.param(Raw(READABLE, "social", RANDOM, user="trina"), id="a site trina may read"),
    ],
)
def test_raw_bytes_to_a_categorised_site_never_reach_it(
    proxy: LeewayProcess, site: RawOrigin, case: Raw
) -> None:
    before = refused(proxy, case.category, "raw")
    logged = proxy.log().count(f"closed a tunnel to {case.host} (category {case.category})")
    sock: socket.socket = open_tunnel(proxy, case.host, site.port, case.user).sock
    if case.tls:
        sock = tls_inside(sock, proxy, None, case.host)
    with sock:
        sock.sendall(case.payload)
        assert closed_by_proxy(sock) == b""
    only_the_marker_arrives(proxy, site)
    assert refused(proxy, case.category, "raw") == before + 1
    log = proxy.log()
    assert log.count(f"closed a tunnel to {case.host} (category {case.category})") == logged + 1
    assert re.search(rf"ref [0-9A-F]{{8}}: closed a tunnel to {re.escape(case.host)} ", log)


def test_raw_bytes_to_an_uncategorised_site_are_still_relayed(
    proxy: LeewayProcess, site: RawOrigin
) -> None:
    with open_tunnel(proxy, UNCATEGORISED, site.port).sock as sock:
        sock.sendall(RANDOM)
        arrived = eventually(
            lambda: [bytes(d) for d in site.received], "the bytes at the site", within=10
        )
    assert arrived == [RANDOM]


def tls_inside(
    sock: socket.socket, proxy: LeewayProcess, alpn: list[str] | None, host: str = BLOCKED
) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(proxy.ca))
    if alpn is not None:
        context.set_alpn_protocols(alpn)
    return context.wrap_socket(sock, server_hostname=host)


HTTP_INSIDE = [
    pytest.param(b"GET / HTTP/1.1\r\nHost: www.youtube.com\r\n\r\n", id="http/1.1"),
    pytest.param(
        b"GET /chat HTTP/1.1\r\nHost: www.youtube.com\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n",
        id="websocket upgrade",
    ),
    pytest.param(
        b"POST /upload HTTP/1.1\r\nHost: www.example.org\r\nContent-Length: 2\r\n\r\nhi",
        id="uncategorised host header",
    ),
]


@pytest.mark.parametrize("request_bytes", HTTP_INSIDE)
def test_http_inside_a_blocked_tunnel_is_refused_and_never_reaches_the_site(
    proxy: LeewayProcess, site: RawOrigin, request_bytes: bytes
) -> None:
    with tls_inside(open_tunnel(proxy, BLOCKED, site.port).sock, proxy, ["http/1.1"]) as tls:
        tls.sendall(request_bytes)
        answer = tls.recv(65536)
    assert answer.startswith((b"HTTP/1.1 403 ", b"HTTP/1.1 421 ")), answer[:200]
    only_the_marker_arrives(proxy, site)


def test_a_switch_to_another_protocol_is_refused_even_for_a_reader(
    proxy: LeewayProcess, site: RawOrigin
) -> None:
    """A site that answered 101 to `Upgrade: vpn` would be relayed raw from then on."""
    tunnel = open_tunnel(proxy, READABLE, site.port, user="trina")
    with tls_inside(tunnel.sock, proxy, ["http/1.1"], READABLE) as tls:
        tls.sendall(b"GET / HTTP/1.1\r\nHost: x.com\r\nUpgrade: vpn\r\nConnection: Upgrade\r\n\r\n")
        assert tls.recv(65536).startswith(b"HTTP/1.1 403 ")
    only_the_marker_arrives(proxy, site)


def test_an_empty_first_line_over_http1_in_a_blocked_tunnel_never_reaches_the_site(
    proxy: LeewayProcess, site: RawOrigin
) -> None:
    """With ALPN http/1.1 mitmproxy reads this as HTTP (and waits for more after the empty
    line): whatever it makes of it, nothing goes to the site."""
    with tls_inside(open_tunnel(proxy, BLOCKED, site.port).sock, proxy, ["http/1.1"]) as tls:
        tls.sendall(EMPTY_FIRST_LINE)
        only_the_marker_arrives(proxy, site)


def test_http2_inside_a_blocked_tunnel_never_reaches_the_site(
    proxy: LeewayProcess, site: RawOrigin
) -> None:
    with tls_inside(open_tunnel(proxy, BLOCKED, site.port).sock, proxy, ["h2"]) as tls:
        assert tls.selected_alpn_protocol() == "h2"
        h2conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        h2conn.initiate_connection()
        for stream, method in ((1, "GET"), (3, "POST")):
            headers = [
                (":method", method),
                (":scheme", "https"),
                (":authority", f"{BLOCKED}:{site.port}"),
                (":path", "/"),
            ]
            h2conn.send_headers(stream, headers, end_stream=True)
        tls.sendall(h2conn.data_to_send())
        statuses = h2_statuses(tls, h2conn, streams=2)
    assert statuses == {1: 403, 3: 403}
    only_the_marker_arrives(proxy, site)


def h2_statuses(
    tls: ssl.SSLSocket, h2conn: h2.connection.H2Connection, streams: int
) -> dict[int, int]:
    statuses: dict[int, int] = {}
    while len(statuses) < streams:
        data = tls.recv(65536)
        if not data:
            break
        for event in h2conn.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived) and event.stream_id is not None:
                statuses[event.stream_id] = int(dict(event.headers)[b":status"])
        tls.sendall(h2conn.data_to_send())
    return statuses


def test_a_connect_inside_a_blocked_tunnel_never_reaches_the_site(
    proxy: LeewayProcess, site: RawOrigin
) -> None:
    """A CONNECT inside a tunnel reaches no request hook: mitmproxy refuses it itself."""
    with tls_inside(open_tunnel(proxy, BLOCKED, site.port).sock, proxy, ["http/1.1"]) as tls:
        tls.sendall(f"CONNECT {BLOCKED}:{site.port} HTTP/1.1\r\nHost: {BLOCKED}\r\n\r\n".encode())
        assert closed_by_proxy(tls).startswith(b"HTTP/1.1 400 ")
    only_the_marker_arrives(proxy, site)


def test_a_blocked_tunnel_never_connects_even_with_the_eager_strategy(
    module_proxies: Proxies, htpasswd: Path, stricter_policy: Path, site: RawOrigin
) -> None:
    """An operator's `connection_strategy=eager` connects at CONNECT, before any request
    inside could be decided: a tunnel blocked for reading and writing is refused there."""
    eager = module_proxies.start(
        *("--proxyauth", f"@{htpasswd}", "--policy", str(stricter_policy)),
        *("--set", "connection_strategy=eager"),
    )
    before = refused(eager, "rich-media", "blocked")
    tunnel = connect(
        eager, f"{BLOCKED}:{site.port}", headers=basic_auth("alice", PASSWORDS["alice"])
    )
    tunnel.close()
    assert tunnel.status == 502, tunnel.head
    only_the_marker_arrives(eager, site)
    assert refused(eager, "rich-media", "blocked") == before + 1
    assert f"refused a connection to {BLOCKED} from a tunnel blocked" in eager.log()
