"""Class 2 of issue 9: the proxy is not a way in, to its own host, however a client asks.

`TECHNIQUES` is an open table of an attacker's attempts (`Technique` rows, sent as raw
bytes: no client library tidies the address up) to the shared `open_proxy`, each with the
reason the refusal is metered under. Add a technique as one more `pytest.param` with an
id; its target may use `{metrics}` and `{proxy}` (the proxy's own ports), `{db}` (a
listener on 127.0.0.1 standing in for a database, which must never see a byte), `{port}`
(the test site's port), `{origin_ip}` (the address the test sites listen on, allowed to the
test proxies) and `{loopback_name}` (a name the proxy's hosts file gives 127.0.0.1).
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.bypass.technique import Technique, attempt, check, requests_at
from tests.e2e.clients import TIMEOUT, connect
from tests.e2e.conftest import Proxies
from tests.e2e.origin import Origin, start_origin
from tests.e2e.proxy_process import LOOPBACK_NAME, ORIGIN_ADDRESS, LeewayProcess

REFUSED = "leeway_destinations_refused_total"


@dataclass
class Listener:
    """A TCP listener that answers nothing and records every connection and byte."""

    host: str = "127.0.0.1"
    port: int = 0
    received: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.create_server((self.host, self.port))
        self.port = int(self.sock.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            with conn:
                conn.settimeout(1)
                try:
                    self.received.append(conn.recv(65536))
                except OSError:
                    self.received.append(b"")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def database() -> Iterator[Listener]:
    listener = Listener()
    yield listener
    listener.close()


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


def send(proxy: LeewayProcess, request: bytes) -> Answer:
    """One request, as raw bytes, on a connection of its own; the answer read to its end."""
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=TIMEOUT) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    return Answer(status, body)


def get(proxy: LeewayProcess, url: str) -> Answer:
    authority = url.split("/", 3)[2]
    return send(
        proxy, f"GET {url} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n".encode()
    )


def tunnel(proxy: LeewayProcess, target: str) -> Answer:
    opened = connect(proxy, target)
    opened.close()
    return Answer(opened.status, opened.head)


def refusals(proxy: LeewayProcess) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{proxy.metrics_port}/metrics", timeout=TIMEOUT).text
    found = next(f for f in text_string_to_metric_families(text) if f.name == REFUSED[:-6])
    return {s.labels["reason"]: s.value for s in found.samples if s.name == REFUSED}


def reading(url: str, status: int) -> Technique:
    """A plain GET of `url` (its authority as the Host), by nobody in particular."""
    authority = url.split("/", 3)[2]
    request = f"GET {url} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    reaches = ("GET www.example.org",) if status == 200 else ()
    return Technique(request, status, reaches, user=None)


def connecting(target: str, status: int) -> Technique:
    """A CONNECT to `target` alone."""
    return Technique("", status, connect=target, user=None)


TECHNIQUES = [
    # The proxy's metrics, in every spelling of its host.
    pytest.param(
        reading("http://0.0.0.0:{metrics}/metrics", 403), "own_port", id="metrics 0.0.0.0"
    ),
    pytest.param(reading("http://2130706433:{metrics}/metrics", 403), "own_port", id="decimal"),
    pytest.param(
        reading("http://[::ffff:127.0.0.1]:{metrics}/metrics", 403), "own_port", id="mapped"
    ),
    pytest.param(reading("http://0x7f.0.0.1:{metrics}/metrics", 403), "own_port", id="hex"),
    pytest.param(reading("http://0177.0.0.1:{metrics}/metrics", 403), "own_port", id="octal"),
    pytest.param(reading("http://127.1:{metrics}/metrics", 403), "own_port", id="short"),
    pytest.param(reading("http://[::1]:{metrics}/metrics", 403), "own_port", id="IPv6 loopback"),
    pytest.param(reading("http://localhost.:{metrics}/metrics", 403), "own_port", id="localhost."),
    pytest.param(
        reading("http://{loopback_name}:{metrics}/metrics", 403), "own_port", id="name for loopback"
    ),
    pytest.param(
        reading("http://{origin_ip}:{metrics}/metrics", 403), "own_port", id="own port, allowed ip"
    ),
    pytest.param(
        reading("http://www.example.org:{proxy}/", 403), "own_port", id="proxy via a site"
    ),
    # A service on the proxy host's loopback (the database stand-in).
    pytest.param(reading("http://127.0.0.1:{db}/", 403), "loopback", id="db plain HTTP"),
    pytest.param(reading("http://0:{db}/", 403), "unspecified", id="db as 0"),
    pytest.param(reading("http://{loopback_name}:{db}/", 403), "loopback", id="db by name"),
    pytest.param(connecting("127.0.0.1:{db}", 403), "loopback", id="db CONNECT (pass-through)"),
    pytest.param(connecting("[::ffff:127.0.0.1]:{db}", 403), "loopback", id="db CONNECT mapped"),
    pytest.param(connecting("{loopback_name}:{db}", 403), "loopback", id="db CONNECT by name"),
    pytest.param(connecting("0.0.0.0:{metrics}", 403), "own_port", id="metrics CONNECT"),
    # The cloud metadata service (refused before any connection is tried).
    pytest.param(reading("http://169.254.169.254/latest/meta-data/", 403), "link_local", id="meta"),
    pytest.param(connecting("169.254.169.254:443", 403), "link_local", id="metadata CONNECT"),
    # Ports outside the configured sets, at an address that is otherwise allowed.
    pytest.param(connecting("{origin_ip}:22", 403), "port", id="CONNECT to ssh port"),
    pytest.param(reading("http://www.example.org:25/", 403), "port", id="plain HTTP to smtp port"),
    # What stays open: the test sites.
    pytest.param(reading("http://www.example.org:{port}/", 200), None, id="a site"),
    pytest.param(connecting("www.example.org:{port}", 200), None, id="a site's tunnel"),
]


@pytest.mark.parametrize(("row", "reason"), TECHNIQUES)
def test_technique(
    open_proxy: LeewayProcess,
    http_origin: Origin,
    database: Listener,
    row: Technique,
    reason: str | None,
) -> None:
    fill = {
        "metrics": open_proxy.metrics_port,
        "proxy": open_proxy.port,
        "db": database.port,
        "origin_ip": ORIGIN_ADDRESS,
        "loopback_name": LOOPBACK_NAME,
    }
    before = refusals(open_proxy)
    outcome = attempt(open_proxy, http_origin.port, requests_at(http_origin), row, **fill)
    check(outcome, row)
    assert b"leeway_" not in (outcome.data or b"")  # no metrics in the answer
    assert database.received == []
    after = refusals(open_proxy)
    grown = {
        name: after[name] - before.get(name, 0)
        for name in after
        if after[name] != before.get(name, 0)
    }
    assert grown == ({} if reason is None else {reason: 1})


def test_connect_goes_to_port_443_only_by_default(
    module_proxies: Proxies, https_origin: Origin
) -> None:
    proxy = module_proxies.start(env={"LEEWAY_CONNECT_PORTS": "443"})
    assert tunnel(proxy, f"www.example.org:{https_origin.port}").status == 403
    # Every reason's series exists from the start (a closed set), the others still at 0.
    assert refusals(proxy) == {
        **dict.fromkeys(
            ("loopback", "unspecified", "link_local", "own_address", "own_port", "own_name"), 0.0
        ),
        "port": 1.0,
    }


@pytest.fixture
def rebinding(module_proxies: Proxies) -> Iterator[tuple[LeewayProcess, Listener, Origin]]:
    """A proxy whose hosts file the test rewrites, a site on the allowed address and a
    listener on 127.0.0.1 at the same port: where a name pointed later."""
    proxy = module_proxies.start()
    listener = Listener()
    site = start_origin(port=listener.port)
    yield proxy, listener, site
    site.stop()
    listener.close()


def point(proxy: LeewayProcess, names: str, address: str) -> None:
    """Give `names` `address` in the proxy's hosts file (rewritten in place: it is mounted)."""
    lines = [line for line in proxy.hosts.read_text().splitlines() if not line.endswith(names)]
    proxy.hosts.write_text("\n".join([*lines, f"{address} {names}", ""]))


def test_a_name_that_rebinds_to_loopback_gets_no_byte(
    rebinding: tuple[LeewayProcess, Listener, Origin],
) -> None:
    """The names resolved to an allowed address when first checked; they point at loopback
    by the time the proxy connects, within the time the first answer is remembered."""
    proxy, listener, site = rebinding
    names = "rebind-a.test rebind-b.test"
    point(proxy, names, ORIGIN_ADDRESS)
    for name in names.split():
        assert get(proxy, f"http://{name}:{site.port}/").status == 200
    point(proxy, names, "127.0.0.1")

    opened = connect(proxy, f"rebind-a.test:{site.port}")
    assert opened.status == 200  # the CONNECT check remembered the earlier answer
    context = ssl.create_default_context()
    with pytest.raises((ssl.SSLError, OSError)):
        context.wrap_socket(opened.sock, server_hostname="rebind-a.test").close()
    assert get(proxy, f"http://rebind-b.test:{site.port}/").status == 502

    assert listener.received == []
    assert [s.path for s in site.seen] == ["/", "/"]
    assert refusals(proxy)["loopback"] == 2
