"""One process of `leeway run --workers N`: a whole proxy that shares its port and its news.

A worker is `leeway run` as one process would be, with three differences: its listening
socket sets SO_REUSEPORT, so that the kernel spreads new connections over the workers; it
tells the supervisor of each Continue, and hears the others' (their caches and the
in-memory Continues of unidentified clients are per process); and instead of serving
/metrics it sends its metrics to the supervisor, which serves their sum.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sys
import threading
from typing import TYPE_CHECKING, NamedTuple

import mitmproxy_rs
from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.proxy.mode_servers import AsyncioServerInstance
from mitmproxy.proxy.mode_specs import ProxyMode
from prometheus_client import generate_latest

from policy.subject import Acknowledgement
from proxy.logs import configure_proxy_logging
from proxy.runtime.serve import serve_loop
from proxy.runtime.startup import RunConfig, StartupError, load_run_policy
from proxy.store.db import make_engine

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from mitmproxy.master import Master
    from prometheus_client import CollectorRegistry

    from addons.context import Leeway
    from proxy.runtime.observability import Observability

log = logging.getLogger("leeway.workers")

# What mitmproxy's `AsyncioServerInstance.listen` returns.
type Listener = asyncio.Server | mitmproxy_rs.udp.UdpServer | mitmproxy_rs.wireguard.WireGuardServer

PUSH_EVERY = 1.0  # seconds between the metrics a worker sends to the supervisor


# What a worker and the supervisor say to each other, over two pipes per worker: `events`
# both ways (small, sent at once from the event loop), `metrics` from the worker only.
class Ready(NamedTuple):
    """The worker listens, and the supervisor has its first metrics."""


class Failed(NamedTuple):
    reason: str


class Acknowledged(NamedTuple):
    username: str | None
    principal: str
    ack: Acknowledgement


class Exposition(NamedTuple):
    text: bytes  # Prometheus text format


class WorkerLink:
    """The worker's side of its pipes; a mitmproxy addon (`running`, `done`).

    Implements `addons.context.Siblings`: a Continue goes to the supervisor, which passes
    it to every other worker; theirs arrive in a thread and are honoured on the loop.
    """

    def __init__(self, index: int, events: Connection, metrics: Connection) -> None:
        self.index = index
        self._events = events
        self._metrics = metrics
        self._leeway: Leeway | None = None
        self._registry: CollectorRegistry | None = None
        self._master: Master | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._sending = threading.Lock()
        self._thread: threading.Thread | None = None
        self._shared_port: SharedPort | None = None

    # The worker's Role (proxy.runtime.startup): its Continues go to its siblings through
    # the supervisor, which serves the summed metrics; the first worker applies retention.
    serves_metrics = False

    @property
    def siblings(self) -> WorkerLink:
        return self

    def last_parts(self, leeway: Leeway, watch: Observability, master: Master) -> list[object]:
        self._leeway = leeway
        self._registry = watch.registry
        self._master = master
        self._shared_port = SharedPort(master)
        return [watch.retention, self] if self.index == 0 else [self]

    def running(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._serve, name="leeway-worker", daemon=True)
        self._thread.start()

    def done(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)  # it sends the last counts as it ends
            self._thread = None

    def failed(self, reason: str) -> None:
        with contextlib.suppress(OSError):
            self._send(Failed(reason))

    def acknowledged(self, username: str | None, principal: str, ack: Acknowledgement) -> None:
        try:
            self._send(Acknowledged(username, principal, ack))
        except OSError as e:  # the supervisor is gone: this worker is stopping anyway
            log.warning("worker %d: Continue not passed to the other workers: %s", self.index, e)

    def _send(self, message: Ready | Failed | Acknowledged) -> None:
        with self._sending:  # the loop and the link's thread both send
            self._events.send(message)

    def _serve(self) -> None:
        """The thread: say it is ready (with metrics to show), then hear the other workers'
        Continues and push metrics every second."""
        loop = self._loop
        assert loop is not None
        self._push()
        pushed = loop.time()
        with contextlib.suppress(OSError):
            self._send(Ready())
        while not self._stop.is_set():
            try:
                if self._events.poll(PUSH_EVERY / 4):
                    message = self._events.recv()
                    if isinstance(message, Acknowledged):
                        loop.call_soon_threadsafe(self._heard, message)
            except (EOFError, OSError):
                log.error("worker %d: the supervisor is gone; stopping", self.index)
                if self._master is not None:
                    self._master.event_loop.call_soon_threadsafe(self._master.should_exit.set)
                return
            if loop.time() - pushed >= PUSH_EVERY:
                pushed = loop.time()
                self._push()
        # The last counts, so that a clean stop loses none: from this thread, because the
        # store's gauges may query the database, which must not hold up the event loop.
        self._push()

    def _heard(self, message: Acknowledged) -> None:
        if self._leeway is not None:
            now = message.ack.acknowledged_at
            self._leeway.sibling_acknowledged(message.username, message.principal, message.ack, now)

    def _push(self) -> None:
        if self._registry is None:
            return
        try:
            self._metrics.send(Exposition(generate_latest(self._registry)))
        except OSError:
            return  # the supervisor is gone


class SharedPort:
    """Makes mitmproxy's TCP listeners set SO_REUSEPORT (it has no option for it).

    mitmproxy announces new server instances before it starts them (`Servers.changed`);
    each TCP one not yet running gets a `listen` that binds with `reuse_port=True`.
    """

    def __init__(self, master: Master) -> None:
        server = next(a for a in master.addons.chain if isinstance(a, Proxyserver))
        self._servers = server.servers
        # mitmproxy keeps a weak reference to the receiver: the link keeps this object.
        self._servers.changed.connect(self.reuse_port)

    def reuse_port(self) -> None:
        for instance in self._servers:
            if (
                isinstance(instance, AsyncioServerInstance)
                and instance.mode.transport_protocol == "tcp"
                and not instance.is_running
            ):
                instance.listen = functools.partial(_listen_shared, instance)  # type: ignore[method-assign]


async def _listen_shared(
    instance: AsyncioServerInstance[ProxyMode], host: str, port: int
) -> list[Listener]:
    return [await asyncio.start_server(instance.handle_stream, host, port, reuse_port=True)]


def run_worker(
    config: RunConfig, index: int, key: bytes, events: Connection, metrics: Connection
) -> None:
    """A spawned worker process: serve until told to stop (SIGTERM) or orphaned."""
    configure_proxy_logging()  # a spawned process starts with Python's default levels
    link = WorkerLink(index, events, metrics)
    try:
        policy = load_run_policy(config.policy_path, config.portal_host)
        engine = make_engine(config.db_url)
        code = asyncio.run(serve_loop(config, engine, policy, key, link))
    except StartupError as e:
        link.failed(str(e))
        sys.exit(1)
    sys.exit(code)
