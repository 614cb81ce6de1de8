"""One row of the bypass tables, and the one runner that tries it on a real proxy.

A `Technique` is what an attacker sends, as raw bytes (no client library tidies it up): an
optional CONNECT first, then `request` (inside TLS when there was a CONNECT; nothing is
sent when it is empty). In `request`, `{port}` is the test site's port and `{auth}` the
login line of the row's user (a module may add fields of its own). The row
says what the attacker must get back (a status, `CLOSED` or `SILENT`) and which hosts the recording
origin behind the proxy must have seen, in order: `()` proves nothing arrived.
"""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from tests.e2e.clients import TIMEOUT, basic_auth, connect
from tests.e2e.conftest import PASSWORDS
from tests.e2e.origin import Origin
from tests.e2e.proxy_process import LeewayProcess

CLOSED = 0  # the proxy closed the connection without an answer
SILENT = -1  # the proxy kept the connection open and answered nothing
QUIET = 1.0  # seconds without a byte after an answer began: the proxy has said all
STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3}) ")
LENGTH = re.compile(rb"\r\ncontent-length: *(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class Technique:
    request: str | Callable[[int], bytes]  # str: `{port}`, `{auth}` filled in; or port -> bytes
    answer: int  # the status of the last answer, CLOSED or SILENT
    reaches: tuple[str, ...] = ()  # "METHOD host" the origin must see, in order
    says: tuple[str, ...] = ()  # texts the answer must contain
    connect: str | None = None  # a CONNECT target (`{port}` filled in) sent first
    user: str | None = "alice"  # logs in to `auth_proxy`; None: `open_proxy`, no login
    tls: str | None = "http/1.1"  # after a CONNECT: the ALPN offered ("": none); None: no TLS


@dataclass(frozen=True)
class Outcome:
    answer: int
    data: bytes | None  # what the proxy sent back (inside TLS after a CONNECT); None: nothing
    seen: list[str]  # "METHOD host" of each request the origin saw


def auth_line(user: str | None) -> str:
    if user is None:
        return ""
    [(name, value)] = basic_auth(user, PASSWORDS[user]).items()
    return f"{name}: {value}\r\n"


def read_to_close(sock: socket.socket) -> bytes | None:
    """Everything until the proxy closes the connection (a reset counts as closing) or,
    once it has begun to answer, goes quiet; None if it never sent a byte nor closed."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
            sock.settimeout(QUIET)
    except (ConnectionResetError, ssl.SSLEOFError):
        pass
    except TimeoutError:
        return data or None
    return data


def last_status(data: bytes | None) -> int:
    """The status of the last of the answers in `data`, one after another."""
    if data is None:
        return SILENT
    status, rest = CLOSED, data
    while (head_end := rest.find(b"\r\n\r\n")) != -1 and (line := STATUS_LINE.match(rest)):
        status = int(line[1])
        length = LENGTH.search(rest, 0, head_end + 2)
        rest = rest[head_end + 4 + (int(length[1]) if length else 0) :]
    return status


def attempt(
    proxy: LeewayProcess,
    port: int,
    seen: Callable[[], list[str]],
    row: Technique,
    /,
    **fill: object,
) -> Outcome:
    """Try `row` against `proxy`, with the test names at `port`; `seen` tells what the
    site behind them received. `fill` fills a module's own fields in the row's texts."""
    if isinstance(row.request, str):
        text = row.request.format(port=port, auth=auth_line(row.user), **fill)
        payload = text.encode("latin-1")
    else:
        payload = row.request(port)
    if row.connect is None:
        sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=TIMEOUT)
    else:
        target = row.connect.format(port=port, **fill)
        login = basic_auth(row.user, PASSWORDS[row.user]) if row.user else None
        tunnel = connect(proxy, target, headers=login)
        if tunnel.status != 200 or not payload:  # refused, or a CONNECT alone
            tunnel.close()
            return Outcome(tunnel.status, tunnel.head, seen())
        sock = tunnel.sock
        if row.tls is not None:
            sock = inside_tls(sock, proxy, row.tls, target.rsplit(":", 1)[0])
    with sock:
        sock.sendall(payload)
        data = read_to_close(sock)
    return Outcome(last_status(data), data, seen())


def inside_tls(sock: socket.socket, proxy: LeewayProcess, alpn: str, name: str) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(proxy.ca))
    if alpn:
        context.set_alpn_protocols([alpn])
    return context.wrap_socket(sock, server_hostname=name)


def requests_at(site: Origin) -> Callable[[], list[str]]:
    """What `site` saw, as "METHOD host" (cleared now: a row starts from nothing)."""
    site.seen.clear()
    return lambda: [f"{seen.method} {seen.host.split(':')[0]}" for seen in site.seen]


def check(outcome: Outcome, row: Technique) -> None:
    """The row's answer, its text, and exactly the arrivals it allows."""
    data = outcome.data or b""
    assert outcome.answer == row.answer, data[:600]
    for text in row.says:
        assert text.encode() in data, data[:600]
    assert outcome.seen == list(row.reaches), "the origin saw what it must not have"
