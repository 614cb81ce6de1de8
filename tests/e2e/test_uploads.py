"""Large uploads through a real proxy: a refused one is answered at once and never held.

`alice` may not post to www.facebook.com. Her 64 MiB upload must get its 403 without the
proxy buffering the body (its peak resident memory, VmHWM, stays flat), over HTTP/1 with
a length or chunked, with `Expect: 100-continue`, and over HTTP/2; the connection stays
usable after it. `paul`'s allowed upload of the same size still reaches the site whole.
The proxy is this module's own, so that its memory is this module's doing.
"""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.clients import CurlAnswer, basic_auth, client, curl, curl_answer
from tests.e2e.conftest import PASSWORDS, Proxies
from tests.e2e.origin import Origin
from tests.e2e.proxy_process import LeewayProcess

MiB = 1024 * 1024
SIZE = 64 * MiB
CHUNK = b"u" * MiB
GROWTH_LIMIT = 16 * MiB  # a quarter of the body: whatever the proxy holds is not the body
SOCIAL_BLOCK = "block; reason=rule_matched; category=social"
XHR_LINES = ("Accept: application/json", "Sec-Fetch-Mode: cors")


@pytest.fixture(scope="module")
def proxy(module_proxies: Proxies, htpasswd: Path) -> LeewayProcess:
    return module_proxies.start("--proxyauth", f"@{htpasswd}")


class PeakMemory:
    """The growth of the proxy's peak resident memory over a block (VmHWM, reset at the
    start through /proc/PID/clear_refs so that earlier peaks do not hide it)."""

    def __init__(self, proxy: LeewayProcess) -> None:
        assert proxy.process is not None
        self.proc = Path(f"/proc/{proxy.process.pid}")
        assert b"proxy.cli" in (self.proc / "cmdline").read_bytes(), "not the proxy's pid"
        self.growth = 0

    def _kib(self, field_name: str) -> int:
        for line in (self.proc / "status").read_text().splitlines():
            if line.startswith(f"{field_name}:"):
                return int(line.split()[1])
        raise AssertionError(f"no {field_name} in {self.proc}/status")

    def __enter__(self) -> PeakMemory:
        (self.proc / "clear_refs").write_text("5")
        self.before = self._kib("VmRSS")
        return self

    def __exit__(self, *exc: object) -> None:
        self.growth = (self._kib("VmHWM") - self.before) * 1024


@dataclass
class Upload:
    """A POST sent over a bare socket through the proxy, its body pushed by a thread while
    the answer is read: a proxy that answers at once is heard before the body ends."""

    sock: socket.socket
    chunked: bool
    sent: int = 0
    sent_when_answered: int = -1
    failed: BaseException | None = None
    sender: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self.sender = threading.Thread(target=self._send, daemon=True)
        self.sender.start()

    def _send(self) -> None:
        try:
            while self.sent < SIZE:
                frame = b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK) if self.chunked else CHUNK
                self.sock.sendall(frame)
                self.sent += len(CHUNK)
            if self.chunked:
                self.sock.sendall(b"0\r\n\r\n")
        except OSError as e:  # the proxy may close once it has answered
            self.failed = e

    def answer(self) -> tuple[bytes, bytes]:
        head, body = read_response(self.sock)
        self.sent_when_answered = self.sent
        return head, body


def read_response(sock: socket.socket) -> tuple[bytes, bytes]:
    """One response with a Content-Length: its head and its body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed before an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(header(head, "content-length") or 0)
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "the connection closed inside the answer"
        body += chunk
    return head, body[:length]


def header(head: bytes, name: str) -> str | None:
    for line in head.decode("latin-1").split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name:
            return value.strip()
    return None


def status_of(head: bytes) -> int:
    return int(head.split(b" ", 2)[1])


def request_head(method: str, user: str, url: str, *lines: str) -> bytes:
    """The head of a request through the proxy, as `user`, with the extra header `lines`."""
    auth = basic_auth(user, PASSWORDS[user])["Proxy-Authorization"]
    head = [
        f"{method} {url} HTTP/1.1",
        f"Host: {url.split('/')[2]}",
        f"Proxy-Authorization: {auth}",
    ]
    return ("\r\n".join([*head, *lines]) + "\r\n\r\n").encode()


def warm(proxy: LeewayProcess, origin: Origin, user: str) -> None:
    """One small request first: the user's entitlements are loaded before the upload (a
    cache miss holds the request in its hook, and mitmproxy queues what arrives meanwhile)."""
    with client(proxy, login=(user, PASSWORDS[user])) as http:
        http.get(f"http://www.example.org:{origin.port}/warm")
    origin.seen.clear()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_refused_upload_is_answered_at_once_and_never_held(
    proxy: LeewayProcess, http_origin: Origin, chunked: bool
) -> None:
    warm(proxy, http_origin, "alice")
    url = f"http://www.facebook.com:{http_origin.port}/upload"
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=20) as sock:
        with PeakMemory(proxy) as memory:
            framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {SIZE}"
            sock.sendall(request_head("POST", "alice", url, *XHR_LINES, framing))
            upload = Upload(sock, chunked)
            head, body = upload.answer()
            upload.sender.join(30)
        assert status_of(head) == 403, head
        assert header(head, "x-leeway-decision") == SOCIAL_BLOCK
        assert b"leeway_block" in body
        assert upload.failed is None, upload.failed
        assert upload.sent_when_answered < SIZE, "the answer waited for the whole body"
        # The body was read and dropped: the next request on the connection is served.
        sock.sendall(
            request_head("GET", "alice", f"http://www.example.org:{http_origin.port}/next")
        )
        head, _ = read_response(sock)
        assert status_of(head) == 200, head
    assert memory.growth < GROWTH_LIMIT, f"the proxy grew by {memory.growth / MiB:.1f} MiB"
    assert [s.path for s in http_origin.seen] == ["/next"], "the refused upload reached the site"


@pytest.fixture(scope="module")
def upload_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("upload") / "upload.bin"
    with path.open("wb") as out:
        for chunk in chunks():
            out.write(chunk)
    return path


def chunks() -> Iterator[bytes]:
    for _ in range(SIZE // MiB):
        yield CHUNK


def curl_upload(proxy: LeewayProcess, user: str, url: str, path: Path, *args: str) -> CurlAnswer:
    """curl posting the file at `path` to `url` through the proxy as `user`, as a script
    would (JSON accepted), with time for 64 MiB on a busy machine."""
    return curl_answer(
        *("--proxy", proxy.url, "--proxy-user", f"{user}:{PASSWORDS[user]}"),
        *("--cacert", str(proxy.ca), "--max-time", "60"),
        *("-H", "Accept: application/json", "-H", "Sec-Fetch-Mode: cors"),
        *("--data-binary", f"@{path}", *args, url),
    )


def test_a_refused_upload_waiting_for_100_continue_is_refused_before_its_body(
    proxy: LeewayProcess, http_origin: Origin, upload_file: Path
) -> None:
    """curl waits for `100 Continue` before a large body: the 403 comes instead, says the
    connection closes, and curl sends none of the body."""
    warm(proxy, http_origin, "alice")
    url = f"http://www.facebook.com:{http_origin.port}/upload"
    with PeakMemory(proxy) as memory:
        done = curl(
            *("--proxy", proxy.url, "--proxy-user", f"alice:{PASSWORDS['alice']}"),
            *("--expect100-timeout", "30", "-H", "Expect: 100-continue"),
            *("--data-binary", f"@{upload_file}", "-o", "/dev/null"),
            *("--write-out", "%{http_code} %{size_upload} %header{connection}", url),
        )
    assert done.returncode == 0, done.stderr
    status, uploaded, connection = done.stdout.split(" ")
    assert (status, connection) == ("403", "close")
    assert uploaded == "0", "curl sent the body: it was told 100 Continue"
    assert memory.growth < GROWTH_LIMIT, f"the proxy grew by {memory.growth / MiB:.1f} MiB"
    assert http_origin.seen == []


def test_a_refused_upload_over_http2_is_answered_without_its_body(
    proxy: LeewayProcess, http_origin: Origin, https_origin: Origin, upload_file: Path
) -> None:
    warm(proxy, http_origin, "alice")
    url = f"https://www.facebook.com:{https_origin.port}/upload"
    with PeakMemory(proxy) as memory:
        answer = curl_upload(proxy, "alice", url, upload_file, "--http2")
    assert (answer.http_version, answer.status) == ("2", 403), answer.text
    assert answer.headers["x-leeway-decision"] == SOCIAL_BLOCK
    assert memory.growth < GROWTH_LIMIT, f"the proxy grew by {memory.growth / MiB:.1f} MiB"
    assert https_origin.seen == []


@pytest.mark.parametrize("version", ["--http1.1", "--http2"])
def test_an_allowed_large_upload_streams_to_the_site_whole(
    proxy: LeewayProcess,
    http_origin: Origin,
    https_origin: Origin,
    upload_file: Path,
    version: str,
) -> None:
    warm(proxy, http_origin, "paul")
    url = f"https://www.facebook.com:{https_origin.port}/upload"
    with PeakMemory(proxy) as memory:
        answer = curl_upload(proxy, "paul", url, upload_file, version)
    assert answer.status == 200, answer.text
    [seen] = https_origin.seen
    digest = hashlib.sha256(upload_file.read_bytes()).hexdigest()
    assert (seen.method, seen.body_length, seen.body_sha256) == ("POST", SIZE, digest)
    assert memory.growth < GROWTH_LIMIT, f"the proxy grew by {memory.growth / MiB:.1f} MiB"
