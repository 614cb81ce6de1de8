"""Tunnels to categorised sites: nothing at all when blocked, never a switch of protocol.

The site behind each tunnel records raw bytes (tests/e2e/raw_site.py). The table of raw
bytes an attacker sends through a tunnel is in tests/e2e/bypass/test_raw_tunnel.py.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import pytest

from tests.e2e.clients import basic_auth, connect
from tests.e2e.conftest import PASSWORDS, Proxies
from tests.e2e.proxy_process import LeewayProcess
from tests.e2e.raw_site import (
    BLOCKED,
    EMPTY_FIRST_LINE,
    RANDOM,
    READABLE,
    UNCATEGORISED,
    RawOrigin,
    closed_by_proxy,
    only_the_marker_arrives,
    open_tunnel,
    refused,
    start_raw_origin,
    tls_inside,
    write_stricter_policy,
)
from tests.waiting import eventually


@pytest.fixture
def site() -> Iterator[RawOrigin]:
    origin = start_raw_origin()
    yield origin
    origin.stop()


@pytest.fixture(scope="module")
def stricter_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_stricter_policy(tmp_path_factory.mktemp("policy") / "policy.toml")


@pytest.fixture(scope="module")
def proxy(module_proxies: Proxies, htpasswd: Path, stricter_policy: Path) -> LeewayProcess:
    """Intercepting, everyone logs in, on the stricter policy."""
    return module_proxies.start("--proxyauth", f"@{htpasswd}", "--policy", str(stricter_policy))


def test_raw_bytes_to_an_uncategorised_site_are_still_relayed(
    proxy: LeewayProcess, site: RawOrigin
) -> None:
    with open_tunnel(proxy, UNCATEGORISED, site.port).sock as sock:
        sock.sendall(RANDOM)
        arrived = eventually(
            lambda: [bytes(d) for d in site.received], "the bytes at the site", within=10
        )
    assert arrived == [RANDOM]


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
