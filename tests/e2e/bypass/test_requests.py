"""Classes 1 and 2 of issue 9 at the request level: requests shaped to slip past a decision.

Each row is one raw request (or a CONNECT and a request inside it) from an attacker for
whom the site is refused, with the answer it must get and what the recording origin may
have seen. `alice` is untrained: social and rich media (www.youtube.com) warn her before
reading and block her from writing; `trina` may read social sites but not post.
Covered elsewhere, not repeated here: a Continue token forged, expired or of another user
(test_acknowledge.py: test_a_forged_token_is_refused, test_another_users_token_is_refused),
the Host of a request beside its URL or SNI (test_fronting.py), and the trusted identity
header from an untrusted peer, for what the site sees (test_identity.py).
"""

from __future__ import annotations

import base64

import h2.connection
import pytest

from tests.e2e.bypass.conftest import Attack
from tests.e2e.bypass.technique import SILENT, Technique, check
from tests.e2e.proxy_process import ORIGIN_ADDRESS

XHR = "Accept: application/json\r\nSec-Fetch-Mode: cors\r\n"
POST = "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 2\r\n"
WEBSOCKET = (
    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
)


def to(host: str, method: str = "GET", headers: str = XHR, *, body: str = "") -> str:
    """A plain proxy request (absolute URL) to `host` at the test site's port."""
    return (
        f"{method} http://{host}:{{port}}/ HTTP/1.1\r\nHost: {host}:{{port}}\r\n{{auth}}"
        f"{headers}{'' if 'Connection:' in headers else 'Connection: close' + chr(13) + chr(10)}"
        f"\r\n{body}"
    )


def inside(host: str, method: str = "GET", headers: str = XHR, *, body: str = "") -> str:
    """An origin-form request, as sent inside a tunnel."""
    return (
        f"{method} / HTTP/1.1\r\nHost: {host}:{{port}}\r\n{headers}Connection: close\r\n\r\n{body}"
    )


def post_to(url: str, host: str = "www.facebook.com:{port}", version: str = "HTTP/1.1") -> str:
    """A form post to `url` exactly as written, with `host` as its Host header."""
    return f"POST {url} {version}\r\nHost: {host}\r\n{{auth}}{POST}Connection: close\r\n\r\nhi"


def h2c_prior_knowledge(port: int) -> bytes:
    """HTTP/2 in clear text, without an Upgrade: the preface, then a POST to facebook."""
    conn = h2.connection.H2Connection()
    conn.initiate_connection()
    headers = [
        (":method", "POST"),
        (":scheme", "http"),
        (":authority", f"www.facebook.com:{port}"),
        (":path", "/"),
        ("proxy-authorization", "Basic " + base64.b64encode(b"trina:trina-secret").decode()),
    ]
    conn.send_headers(1, headers, end_stream=True)
    return conn.data_to_send()


PAUL = "Basic " + base64.b64encode(b"paul:paul-secret").decode()
SMUGGLED = "POST http://www.facebook.com:{port}/ HTTP/1.1\r\nHost: www.facebook.com\r\n\r\n"

TECHNIQUES = [
    # An empty line before the request line (servers skip it; RFC 9112 2.2). mitmproxy
    # skips it too, then waits for more bytes before it reads the request: nothing goes on.
    pytest.param(
        Technique("\r\n" + to("www.facebook.com", "POST", POST, body="hi"), SILENT, user="trina"),
        id="CRLF before a post",
    ),
    pytest.param(
        Technique("\r\n\r\n" + to("www.youtube.com"), SILENT, user="alice"),
        id="two CRLFs before a read",
    ),
    # The URL and the Host header disagree (the exact row of issue 9).
    pytest.param(
        Technique(
            "GET http://www.example.org:{port}/ HTTP/1.1\r\nHost: www.youtube.com\r\n{auth}"
            "Connection: close\r\n\r\n",
            403,
        ),
        id="uncategorised URL, blocked Host",
    ),
    # The categorised name spelled otherwise.
    pytest.param(
        Technique(to("WWW.FaceBook.COM", "POST", POST, body="hi"), 403, user="trina"),
        id="name in mixed case",
    ),
    pytest.param(
        Technique(to("www.facebook.com.", "POST", POST, body="hi"), 403, user="trina"),
        id="name with a trailing dot",
    ),
    pytest.param(
        Technique(inside("WWW.YouTube.COM"), 403, connect="WWW.YouTube.COM:{port}"),
        id="CONNECT in mixed case",
    ),
    pytest.param(
        Technique(inside("www.youtube.com."), 403, connect="www.youtube.com.:{port}"),
        id="CONNECT with a trailing dot",
    ),
    pytest.param(
        Technique(inside("www.youtube.com"), 403, connect="www.youtube.com:0{port}"),
        id="CONNECT port with a leading zero",
    ),
    pytest.param(
        Technique(
            inside("www.facebook.com", "POST", POST, body="hi"),
            403,
            connect="www.facebook.com:{port}",
            user="trina",
        ),
        id="CONNECT, post inside",
    ),
    # Pipelining: an allowed read, then a post on the same connection.
    pytest.param(
        Technique(
            to("www.facebook.com", headers=XHR + "Connection: keep-alive\r\n")
            + to("www.facebook.com", "POST", POST, body="hi"),
            403,
            ("GET www.facebook.com",),
            user="trina",
        ),
        id="pipelined post after a read",
    ),
    # Smuggling: a body that both is and is not there.
    pytest.param(
        Technique(
            to(
                "www.facebook.com",
                "GET",
                XHR + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                body="0\r\n\r\n" + SMUGGLED,
            ),
            400,
            user="trina",
        ),
        id="Content-Length and chunked",
    ),
    # HTTP/2 in clear text to the proxy port: mitmproxy reads `PRI * HTTP/2.0` as HTTP/1
    # (a request with no host: 400); an Upgrade to h2c is not followed.
    pytest.param(Technique(h2c_prior_knowledge, 400, user="trina"), id="h2c prior knowledge"),
    pytest.param(
        Technique(
            to(
                "www.facebook.com",
                "POST",
                POST + "Upgrade: h2c\r\nConnection: Upgrade, "
                "HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n",
                body="hi",
            ),
            403,
            user="trina",
        ),
        id="h2c upgrade on a post",
    ),
    # WebSocket to a site the person may not read, plainly and inside a tunnel.
    pytest.param(Technique(to("www.youtube.com", headers=WEBSOCKET), 403), id="websocket"),
    pytest.param(
        Technique(
            inside("www.youtube.com", headers=WEBSOCKET), 403, connect="www.youtube.com:{port}"
        ),
        id="websocket in a tunnel",
    ),
    # Someone else's identity, from a client no one vouches for (open_proxy: no login).
    pytest.param(
        Technique(
            to("www.facebook.com", "POST", POST + f"Proxy-Authorization: {PAUL}\r\n", body="hi"),
            403,
            user=None,
        ),
        id="paul's login to a proxy without logins",
    ),
    pytest.param(
        Technique(
            to("www.facebook.com", "POST", POST + "X-Authenticated-User: paul\r\n", body="hi"),
            403,
            user=None,
        ),
        id="trusted header from an untrusted peer",
    ),
    pytest.param(
        Technique(
            to("www.facebook.com", "POST", POST + "X-Authenticated-User: paul\r\n", body="hi"),
            403,
            user="alice",
        ),
        id="trusted header beside a login",
    ),
    # The URL spelled so that parsers disagree on its host: mitmproxy refuses the request
    # line itself (400), so no decision is made on a host another parser would see.
    pytest.param(
        Technique(post_to("http://x@www.facebook.com:{port}/"), 400, user="trina"), id="userinfo"
    ),
    pytest.param(
        Technique(
            post_to("http://www.example.org:{port}@www.facebook.com:{port}/"), 400, user="trina"
        ),
        id="userinfo naming an open site",
    ),
    pytest.param(
        Technique(post_to("http://www.faceb%6Fok.com:{port}/"), 400, user="trina"),
        id="percent-encoded host",
    ),
    pytest.param(
        Technique(post_to("http://www.example.org\\@www.facebook.com:{port}/"), 400, user="trina"),
        id="backslash before an at",
    ),
    pytest.param(
        Technique(post_to("http://www.facebook.com:{port}#@www.example.org/"), 400, user="trina"),
        id="fragment before an at",
    ),
    # Spelled so that they parse: decided on the categorised host.
    pytest.param(
        Technique(post_to("HTTP://www.facebook.com:{port}/"), 403, user="trina"),
        id="scheme in upper case",
    ),
    pytest.param(
        Technique(
            post_to("http://www.facebook.com:{port}/", version="HTTP/1.0"), 403, user="trina"
        ),
        id="HTTP/1.0",
    ),
    pytest.param(
        Technique(
            "POST http://www.facebook.com:{port}/ HTTP/1.0\r\n{auth}" + POST + "\r\nhi",
            403,
            user="trina",
        ),
        id="HTTP/1.0 without a Host",
    ),
    pytest.param(
        Technique(
            post_to("http://www.facebook.com:{port}/", host="www.example.org:{port}"),
            421,
            user="trina",
        ),
        id="blocked URL, open Host",
    ),
    pytest.param(
        Technique(
            post_to("http://[::ffff:127.0.0.50]:{port}/", host="www.facebook.com:{port}"),
            403,
            user="trina",
        ),
        id="mapped address in the URL, blocked Host",
    ),
    # A post in other shapes is still a post.
    pytest.param(
        Technique(
            "POST http://www.facebook.com:{port}/ HTTP/1.1\r\nHost: www.facebook.com:{port}\r\n"
            "{auth}Transfer-Encoding: chunked\r\nContent-Type: text/plain\r\n"
            "Connection: close\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
            403,
            user="trina",
        ),
        id="chunked post",
    ),
    pytest.param(
        Technique(
            "POST http://www.facebook.com:{port}/ HTTP/1.1\r\nHost: www.facebook.com:{port}\r\n"
            "{auth}Connection: close\r\n\r\n",
            403,
            user="trina",
        ),
        id="post without a body",
    ),
    # The site's address instead of its name, and no server name in the TLS handshake:
    # the server's certificate says what it is, so the tunnel is opened and the Host decided.
    pytest.param(
        Technique(
            inside("www.youtube.com", "POST", POST, body="hi"),
            403,
            connect=f"{ORIGIN_ADDRESS}:{{port}}",
        ),
        id="the site's address, no server name",
    ),
    pytest.param(
        Technique(
            inside("www.example.org"),
            200,
            ("GET www.example.org",),
            connect=f"{ORIGIN_ADDRESS}:{{port}}",
        ),
        id="an open site at that address, no server name",
    ),
    pytest.param(
        Technique(
            inside("www.youtube.com", "POST", POST, body="hi"),
            403,
            connect=f"{ORIGIN_ADDRESS}:{{port}}",
            tls=None,
        ),
        id="the site's address, plain HTTP in the tunnel",
    ),
    # What stays open, through the same runner.
    pytest.param(Technique(to("www.example.org"), 200, ("GET www.example.org",)), id="a site"),
    pytest.param(
        Technique(
            to("www.facebook.com", "POST", POST, body="hi"),
            200,
            ("POST www.facebook.com",),
            user="paul",
        ),
        id="paul posts",
    ),
]


@pytest.mark.parametrize("row", TECHNIQUES)
def test_technique(attack: Attack, row: Technique) -> None:
    check(attack(row), row)
