"""A TCP forwarder for outage tests: stop it and the database is gone; start it, it is back.

Stopping refuses new connections and cuts the open ones, as a stopped server would.
"""

from __future__ import annotations

import contextlib
import socket
import threading


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Forwarder:
    """Forwards 127.0.0.1:`port` to `target` while started."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._stopped.set()
        self._open: set[socket.socket] = set()
        self._listener: threading.Thread | None = None

    def start(self) -> None:
        server = socket.create_server(("127.0.0.1", self.port))  # SO_REUSEADDR: rebinds at once
        server.settimeout(0.05)
        self._stopped.clear()
        self._listener = threading.Thread(target=self._accept, args=(server,), daemon=True)
        self._listener.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._listener is not None:
            self._listener.join()
            self._listener = None
        with self._lock:
            connections, self._open = self._open, set()
        for connection in connections:
            _close(connection)

    def _accept(self, server: socket.socket) -> None:
        with server:
            while not self._stopped.is_set():
                try:
                    client, _ = server.accept()
                except TimeoutError:
                    continue
                client.settimeout(None)
                try:
                    upstream = socket.create_connection(self.target)
                except OSError:
                    _close(client)
                    continue
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
