"""Real clients for the end-to-end tests: httpx, curl, and a bare CONNECT over a socket."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import httpcore
import httpx
from cryptography import x509
from cryptography.x509.oid import NameOID
from httpcore._backends.base import SOCKET_OPTION

from tests.e2e.proxy_process import LeewayProcess

# What a browser sends when it loads a page, and when a script fetches JSON.
PAGE = {"Accept": "text/html,application/xhtml+xml", "Sec-Fetch-Mode": "navigate"}
XHR = {"Accept": "application/json", "Sec-Fetch-Mode": "cors"}
TIMEOUT = 10.0


def proxy_url(proxy: LeewayProcess, user: str | None = None, password: str | None = None) -> str:
    if user is None:
        return proxy.url
    return f"http://{user}:{password}@127.0.0.1:{proxy.port}"


def client(
    proxy: LeewayProcess,
    origin_ca: Path | None = None,
    *,
    login: tuple[str, str] | None = None,
    local_address: str | None = None,
    http2: bool = False,
    proxy_headers: dict[str, str] | None = None,
) -> httpx.Client:
    """An httpx client through `proxy` that trusts its CA (and the origins' own, for the
    connections the proxy passes through untouched); optionally logged in to the proxy
    as `login` (user, password) and bound to a source address such as 127.0.0.2."""
    context = ssl.create_default_context(cafile=str(proxy.ca))
    if origin_ca is not None:
        context.load_verify_locations(cafile=str(origin_ca))
    user, password = login if login is not None else (None, None)
    via = httpx.Proxy(proxy_url(proxy, user, password), headers=proxy_headers)
    transport = httpx.HTTPTransport(proxy=via, verify=context, http2=http2)
    if local_address is not None:
        _bind(transport, via, context, local_address, http2=http2)
    return httpx.Client(transport=transport, timeout=TIMEOUT, follow_redirects=False)


def _bind(
    transport: httpx.HTTPTransport,
    via: httpx.Proxy,
    context: ssl.SSLContext,
    local_address: str,
    *,
    http2: bool,
) -> None:
    """Make `transport` connect from `local_address`. httpx 0.28 does not pass its
    `local_address` on to the pool it builds for a proxy, nor does httpcore's proxy pool
    to its connections: only a network backend of our own gets it there."""
    transport._pool = httpcore.HTTPProxy(
        proxy_url=httpcore.URL(
            scheme=via.url.raw_scheme,
            host=via.url.raw_host,
            port=via.url.port,
            target=via.url.raw_path,
        ),
        proxy_auth=via.raw_auth,
        proxy_headers=via.headers.raw,
        ssl_context=context,
        http2=http2,
        network_backend=_BoundBackend(local_address),
    )


class _BoundBackend(httpcore.SyncBackend):
    def __init__(self, local_address: str) -> None:
        self.local_address = local_address

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        return super().connect_tcp(host, port, timeout, self.local_address, socket_options)


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    """curl with a bounded run time."""
    return subprocess.run(
        ["curl", "--silent", "--show-error", "--max-time", "10", *args],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )


@dataclass(frozen=True)
class CurlAnswer:
    http_version: str
    status: int
    headers: dict[str, str]  # lower-case names, the last value of each
    text: str


def curl_answer(*args: str) -> CurlAnswer:
    """Run curl and read what it got: status, protocol version, headers and body."""
    done = curl("--write-out", "%{stderr}%{http_version} %{http_code}\n%{header_json}", *args)
    assert done.returncode == 0, done.stderr
    first, _, header_json = done.stderr.partition("\n")
    version, status = first.split()
    headers = {name: values[-1] for name, values in json.loads(header_json).items()}
    return CurlAnswer(version, int(status), headers, done.stdout)


def basic_auth(user: str, password: str) -> dict[str, str]:
    """The Proxy-Authorization header of a login, for a bare CONNECT."""
    credentials = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Proxy-Authorization": f"Basic {credentials}"}


@dataclass
class Tunnel:
    """A CONNECT through the proxy: the proxy's status line and, if it said 200, the socket."""

    status: int
    head: bytes
    sock: socket.socket

    def close(self) -> None:
        self.sock.close()


def connect(
    proxy: LeewayProcess,
    target: str,
    *,
    headers: dict[str, str] | None = None,
    source: str | None = None,
) -> Tunnel:
    """Send `CONNECT target` to the proxy over a bare socket and read its answer's head."""
    sock = socket.create_connection(
        ("127.0.0.1", proxy.port),
        timeout=TIMEOUT,
        source_address=(source, 0) if source else None,
    )
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    return Tunnel(status, head, sock)


def peer_certificate(tunnel: Tunnel, server_name: str | None) -> x509.Certificate:
    """Shake hands over the tunnel with SNI `server_name` (None: no SNI) and return the
    certificate the client is shown (not verified: which certificate it is, is the point)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with context.wrap_socket(tunnel.sock, server_hostname=server_name) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def issuer_name(certificate: x509.Certificate) -> str:
    return str(certificate.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def subject_name(certificate: x509.Certificate) -> str:
    return str(certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.method: str | None = None
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.action, self.method = values.get("action"), values.get("method")
        elif tag == "input" and "name" in values:
            self.fields[values["name"]] = values.get("value", "")


@dataclass(frozen=True)
class ContinueForm:
    action: str
    method: str
    token: str
    next: str


def continue_form(html: str) -> ContinueForm:
    """The Continue form of a warning page, as a browser would read it."""
    parser = _FormParser()
    parser.feed(html)
    assert parser.action is not None, "the page has no form"
    return ContinueForm(
        parser.action,
        (parser.method or "get").upper(),
        parser.fields["token"],
        parser.fields["next"],
    )
