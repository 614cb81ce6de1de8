"""A TCP forwarder that stands between the proxy and PostgreSQL, to cut the database off.

`stop()` closes every open connection and refuses new ones, as a stopped server would;
`start()` listens again on the same port.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import make_url

from tests.conftest import PostgresDatabases
from tests.e2e.conftest import add_cast
from tests.e2e.proxy_process import free_port


class Forwarder:
    """Forwards `host`:`port` to `target` while started."""

    def __init__(self, target: tuple[str, int], host: str = "127.0.0.1") -> None:
        self.target = target
        self.host = host
        self.port = free_port()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        listener = socket.create_server((self.host, self.port))  # SO_REUSEADDR
        listener.settimeout(0.05)  # so that the loop sees `stop()` promptly
        self._stopping.clear()
        self._thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            connections, self._open = self._open, set()
        for connection in connections:
            _close(connection)

    def _accept(self, listener: socket.socket) -> None:
        with listener:
            while not self._stopping.is_set():
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                client.settimeout(None)
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                except OSError:
                    _close(client)
                    continue
                upstream.settimeout(None)
                with self._lock:
                    self._open |= {client, upstream}
                for source, sink in ((client, upstream), (upstream, client)):
                    threading.Thread(target=_pipe, args=(source, sink), daemon=True).start()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    _close(source)
    _close(sink)


def _close(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)
    connection.close()


@dataclass(frozen=True)
class ForwardedDatabase:
    forwarder: Forwarder
    direct: str  # straight to PostgreSQL, for the test's own reads
    through: str  # through the forwarder, for the proxies


@contextmanager
def forwarded_database(
    databases: PostgresDatabases, template: str, prefix: str, password: str | None = None
) -> Iterator[ForwardedDatabase]:
    """A fresh database with the test cast, reached through a forwarder the test can cut.

    `password` is put in the forwarded URL (the server trusts local connections) so that
    tests can check it is masked wherever the proxy prints the URL.
    """
    name = databases.create(prefix, template=template)
    direct = add_cast(databases.url(name))
    url = make_url(direct)
    forwarder = Forwarder((url.host or "127.0.0.1", url.port or 5432))
    forwarder.start()
    through = url.set(host="127.0.0.1", port=forwarder.port)
    if password is not None:
        through = through.set(password=password)
    try:
        yield ForwardedDatabase(forwarder, direct, through.render_as_string(hide_password=False))
    finally:
        forwarder.stop()
        databases.drop(name)
