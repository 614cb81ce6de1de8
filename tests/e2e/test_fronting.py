"""Requests whose names disagree: the TLS SNI (or CONNECT target) of one host, the Host
header or HTTP/2 `:authority` of another.

The stricter decision wins: a Host decided more strictly than the connection is refused
with its own decision, and a connection decided more strictly than its Host answers 421
(a browser that coalesced the connection retries on a new one). A coalesced Host decided
like the connection passes. The site never sees a refused request.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import h2.config
import h2.connection
import h2.events
import pytest

from tests.e2e.certs import OriginCerts
from tests.e2e.clients import PAGE, XHR, basic_auth, client, connect, curl_answer
from tests.e2e.conftest import PASSWORDS
from tests.e2e.origin import Origin
from tests.e2e.proxy_process import LeewayProcess


@pytest.fixture
def proxy(auth_proxy: LeewayProcess) -> LeewayProcess:
    """Everybody logs in."""
    return auth_proxy


@dataclass(frozen=True)
class Fronted:
    user: str
    method: str
    connection: str  # the URL's host: the CONNECT target and the SNI
    host: str  # the Host header (HTTP/2: :authority)
    headers: dict[str, str]
    status: int
    decision: str | None


CASES = [
    pytest.param(
        Fronted("trina", "GET", "x.com", "www.youtube.com", PAGE, 403, "warn; reason=rule_matched"),
        id="readable sni, warned host -> host's warning",
    ),
    pytest.param(
        Fronted("paul", "POST", "www.facebook.com", "www.youtube.com", XHR, 403, "block;"),
        id="allowed sni, blocked host -> host's block",
    ),
    pytest.param(
        Fronted("trina", "GET", "www.youtube.com", "x.com", XHR, 421, None),
        id="warned sni, readable host -> 421",
    ),
    pytest.param(
        Fronted("alice", "POST", "www.youtube.com", "www.example.org", XHR, 421, None),
        id="blocked sni, uncategorised host -> 421",
    ),
    pytest.param(
        Fronted("trina", "GET", "www.facebook.com", "x.com", XHR, 200, None),
        id="coalesced host of the same decision passes",
    ),
    pytest.param(
        Fronted("paul", "POST", "x.com", "static.xx.fbcdn.net", XHR, 200, None),
        id="coalesced write of the same decision passes",
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_fronted_https_request_over_http1(
    proxy: LeewayProcess, https_origin: Origin, origin_certs: OriginCerts, case: Fronted
) -> None:
    port = https_origin.port
    user, password = case.user, PASSWORDS[case.user]
    with client(proxy, origin_certs.ca, login=(user, password)) as http:
        answer = http.request(
            case.method,
            f"https://{case.connection}:{port}/inbox",
            headers={**case.headers, "Host": f"{case.host}:{port}"},
        )
    assert answer.http_version == "HTTP/1.1"
    check(case, answer.status_code, answer.headers.get("x-leeway-decision"), answer.text)
    check_origin(case, https_origin)


@pytest.mark.parametrize("case", CASES)
def test_fronted_https_request_over_http2(
    proxy: LeewayProcess, https_origin: Origin, case: Fronted
) -> None:
    """HTTP/2, where a browser legitimately reuses a connection for another name."""
    port = https_origin.port
    headers = [f"-H{name}: {value}" for name, value in case.headers.items()]
    answer = curl_answer(
        "--http2",
        "--proxy", proxy.url,
        "--proxy-user", f"{case.user}:{PASSWORDS[case.user]}",
        "--cacert", str(proxy.ca),
        "--request", case.method,
        *headers,
        "--header", f"Host: {case.host}:{port}",
        f"https://{case.connection}:{port}/inbox",
    )  # fmt: skip
    assert answer.http_version == "2"
    check(case, answer.status, answer.headers.get("x-leeway-decision"), answer.text)
    check_origin(case, https_origin)


def check(case: Fronted, status: int, decision: str | None, text: str) -> None:
    assert status == case.status, text
    assert (decision or "").startswith(case.decision or "")
    if status == 403:
        assert case.host in text, "the refusal names the Host's site"


def check_origin(case: Fronted, origin: Origin) -> None:
    port = origin.port
    if case.status == 200:
        assert [(s.method, s.host) for s in origin.seen] == [(case.method, f"{case.host}:{port}")]
    else:
        assert origin.seen == [], "a refused request reached the site"


@pytest.mark.parametrize(
    ("url_host", "host", "status"),
    [("x.com", "www.youtube.com", 403), ("www.youtube.com", "x.com", 421)],
    ids=["readable url, warned host", "warned url, readable host"],
)
def test_fronted_plain_http_request(
    proxy: LeewayProcess, http_origin: Origin, url_host: str, host: str, status: int
) -> None:
    port = http_origin.port
    with client(proxy, login=("trina", PASSWORDS["trina"])) as http:
        answer = http.get(f"http://{url_host}:{port}/", headers={**XHR, "Host": f"{host}:{port}"})
    assert answer.status_code == status
    assert http_origin.seen == []


def inside_tunnel(proxy: LeewayProcess, connection: str, port: int, alpn: str) -> ssl.SSLSocket:
    """A TLS connection through the proxy to `connection`, as trina, trusting the proxy."""
    tunnel = connect(proxy, f"{connection}:{port}", headers=basic_auth("trina", PASSWORDS["trina"]))
    assert tunnel.status == 200
    context = ssl.create_default_context(cafile=str(proxy.ca))
    context.set_alpn_protocols([alpn])
    return context.wrap_socket(tunnel.sock, server_hostname=connection)


def test_an_absolute_url_inside_a_tunnel_is_decided_too(
    proxy: LeewayProcess, https_origin: Origin
) -> None:
    """HTTP/1.1 lets a request name its site in its target; a server then ignores Host."""
    port = https_origin.port
    with inside_tunnel(proxy, "x.com", port, "http/1.1") as tls:
        tls.sendall(
            f"GET https://www.youtube.com:{port}/watch HTTP/1.1\r\n"
            f"Host: x.com:{port}\r\nAccept: application/json\r\nConnection: close\r\n\r\n".encode()
        )
        answer = read_all(tls)
    assert answer.startswith(b"HTTP/1.1 403 "), answer[:200]
    assert b"x-leeway-decision: warn; reason=rule_matched; category=rich-media" in answer.lower()
    assert https_origin.seen == []


def test_an_http2_host_header_beside_authority_is_decided_too(
    proxy: LeewayProcess, https_origin: Origin
) -> None:
    """HTTP/2 with both `:authority` and a different `host`: the site must not get it."""
    port = https_origin.port
    with inside_tunnel(proxy, "x.com", port, "h2") as tls:
        assert tls.selected_alpn_protocol() == "h2"
        h2conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, validate_outbound_headers=False)
        )
        h2conn.initiate_connection()
        headers = [
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", f"x.com:{port}"),
            (":path", "/watch"),
            ("host", f"www.youtube.com:{port}"),
            ("accept", "application/json"),
        ]
        h2conn.send_headers(1, headers, end_stream=True)
        tls.sendall(h2conn.data_to_send())
        status = h2_answer(tls, h2conn)
    assert status != 200
    assert https_origin.seen == []


def read_all(tls: ssl.SSLSocket) -> bytes:
    received = b""
    while chunk := tls.recv(65536):
        received += chunk
    return received


def h2_answer(tls: ssl.SSLSocket, h2conn: h2.connection.H2Connection) -> int | None:
    """The status of stream 1, or None if the stream or connection was refused."""
    status: int | None = None
    while True:
        data = tls.recv(65536)
        if not data:
            return status
        for event in h2conn.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived):
                status = int(dict(event.headers)[b":status"])
            elif isinstance(event, h2.events.StreamEnded | h2.events.StreamReset):
                return status
            elif isinstance(event, h2.events.ConnectionTerminated):
                return None
        tls.sendall(h2conn.data_to_send())
