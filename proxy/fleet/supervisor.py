"""`leeway run --workers N`: N proxy processes on one listening port, and their supervisor.

One mitmproxy process uses one core. Each worker is a whole proxy (proxy/fleet/member.py) whose
listening socket sets SO_REUSEPORT, so the kernel spreads new connections over them.
The supervisor checks everything once (policy, database, port), starts the workers and
waits until all listen, then:

- passes each Continue from one worker to the others;
- serves /metrics as the sum of the workers' metrics (proxy/fleet/summed_metrics.py);
- starts a new worker when one dies (after 1 s, doubling to 30 s while they keep dying);
- passes SIGHUP on (policy reload), and stops everything on SIGINT or SIGTERM.

A worker whose supervisor is gone stops by itself: its pipe ends. `supervise()` (the entry
point) is in proxy/fleet/launch.py, one worker position (Slot) in proxy/fleet/slot.py.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.context
import signal
import socket
import threading
import time
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection, wait

from prometheus_client import CollectorRegistry, Counter, Gauge

from proxy.fleet.member import Acknowledged, Exposition, Failed, Ready, run_worker
from proxy.fleet.slot import RESTART_FIRST, RESTART_MAX, STEADY, Slot, send_signal, worker_journal
from proxy.fleet.summed_metrics import SummedCollector, Totals
from proxy.runtime.startup import RunConfig, StartupError

log = logging.getLogger("leeway.workers")

READY_WITHIN = 60.0  # seconds for every worker to listen at start
STOP_WITHIN = 4.0  # seconds for the workers to stop before they are killed


@dataclass
class Supervisor:
    config: RunConfig
    workers: int
    key: bytes
    slots: list[Slot] = field(init=False)
    _context: multiprocessing.context.SpawnContext = field(
        default_factory=lambda: multiprocessing.get_context("spawn")
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _retired: Totals = field(default_factory=Totals)
    _signals: list[int] = field(default_factory=list)
    _restarts: Counter | None = None

    def __post_init__(self) -> None:
        self.slots = [Slot(index) for index in range(self.workers)]
        # Signals write to this socket pair, so that waiting on the pipes wakes up for them.
        self._wakeup, self._wakeup_writer = socket.socketpair()
        for end in (self._wakeup, self._wakeup_writer):
            end.setblocking(False)

    # -- starting and stopping workers --------------------------------------------------

    def start(self, slot: Slot) -> None:
        config = replace(
            self.config,
            observability=replace(
                self.config.observability,
                journal=worker_journal(self.config.observability.journal, slot.index),
            ),
        )
        events, worker_events = self._context.Pipe(duplex=True)
        metrics, worker_metrics = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=run_worker,
            args=(config, slot.index, self.key, worker_events, worker_metrics),
            name=f"leeway-worker-{slot.index}",
        )
        process.start()
        worker_events.close()
        worker_metrics.close()
        slot.process, slot.events, slot.metrics = process, events, metrics
        slot.ready, slot.started, slot.restart_at = False, time.monotonic(), None

    def start_all(self) -> None:
        """Start every worker and wait until each listens; StartupError if one cannot."""
        for slot in self.slots:
            self.start(slot)
        deadline = time.monotonic() + READY_WITHIN
        while not all(slot.ready for slot in self.slots):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StartupError(f"the workers did not all listen within {READY_WITHIN:.0f} s")
            for slot, message in self._receive(remaining):
                if isinstance(message, Failed):
                    raise StartupError(message.reason)
                self._handle(slot, message)
            for slot in self._exited():
                code = slot.process.exitcode if slot.process else None
                raise StartupError(
                    f"worker {slot.index} stopped while starting (exit code {code}; "
                    "its error is above)"
                )
            if self._signals:
                raise StartupError("stopped by a signal while starting")

    def stop_all(self) -> None:
        live = [s.process for s in self.slots if s.process is not None and s.process.is_alive()]
        for process in live:
            send_signal(process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_WITHIN
        for process in live:
            process.join(max(0.0, deadline - time.monotonic()))
        for process in live:
            if process.is_alive():
                log.warning("worker %s did not stop in time: killed", process.name)
                process.kill()
                process.join(1.0)
        for slot in self.slots:
            self._drain(slot)
            for connection in slot.connections():
                connection.close()

    # -- the running supervisor -----------------------------------------------------------

    def run(self) -> int:
        """Relay, collect and replace workers until SIGINT or SIGTERM."""
        while True:
            due = [s.restart_at for s in self.slots if s.restart_at is not None]
            timeout = min([1.0, *(max(0.0, at - time.monotonic()) for at in due)])
            for slot, message in self._receive(timeout):
                self._handle(slot, message)
            while self._signals:  # before looking for dead workers: Ctrl-C reaches them too
                if self._signals.pop(0) != signal.SIGHUP:
                    return 0
                self._forward(signal.SIGHUP)
            for slot in self._exited():
                self._bury(slot)
            for slot in self.slots:
                if slot.restart_at is not None and time.monotonic() >= slot.restart_at:
                    log.info("starting worker %d again", slot.index)
                    self.start(slot)

    def _receive(self, timeout: float) -> list[tuple[Slot, object]]:
        """Messages from the workers, waiting up to `timeout` (less if one exits or a signal)."""
        owners = {c: slot for slot in self.slots for c in slot.connections()}
        sentinels = [s.process.sentinel for s in self.slots if s.process is not None]
        received: list[tuple[Slot, object]] = []
        for ready in wait([*owners, *sentinels, self._wakeup], timeout):
            if ready is self._wakeup:
                with contextlib.suppress(BlockingIOError):
                    self._wakeup.recv(64)
            elif isinstance(ready, Connection):
                slot = owners[ready]
                try:
                    received.append((slot, ready.recv()))
                except (EOFError, OSError):
                    slot.close(ready)
        return received

    def _handle(self, slot: Slot, message: object) -> None:
        if isinstance(message, Exposition):
            with self._lock:
                slot.exposition = message.text
        elif isinstance(message, Acknowledged):
            for other in self.slots:
                if other is not slot and other.ready and other.events is not None:
                    # A worker that cannot hear it is dying: its replacement reads the store.
                    with contextlib.suppress(OSError):
                        other.events.send(message)
        elif isinstance(message, Ready):
            slot.ready = True
        elif isinstance(message, Failed):
            log.error("worker %d: %s", slot.index, message.reason)

    def _exited(self) -> list[Slot]:
        return [
            s
            for s in self.slots
            if s.process is not None and s.restart_at is None and not s.process.is_alive()
        ]

    def _bury(self, slot: Slot) -> None:
        """A worker died: keep its counts and start another one after a delay."""
        assert slot.process is not None
        self._drain(slot)
        code = slot.process.exitcode
        if time.monotonic() - slot.started >= STEADY:
            slot.delay = RESTART_FIRST  # it had been running well: not a crash loop
        log.error(
            "worker %d (pid %s) stopped with exit code %s; a new one starts in %.0f s",
            slot.index,
            slot.process.pid,
            code,
            slot.delay,
        )
        with self._lock:
            if slot.exposition is not None:
                self._retired.add(slot.exposition, monotonic_only=True)
            slot.exposition = None
        for connection in slot.connections():
            connection.close()
        slot.events = slot.metrics = None
        slot.ready = False
        slot.restart_at = time.monotonic() + slot.delay
        slot.delay = min(slot.delay * 2, RESTART_MAX)  # if the next one dies young too
        if self._restarts is not None:
            self._restarts.inc()

    def _drain(self, slot: Slot) -> None:
        """Read what a stopped worker sent last (its final metrics)."""
        for connection in slot.connections():
            with contextlib.suppress(EOFError, OSError):
                while connection.poll(0):
                    self._handle(slot, connection.recv())

    def _forward(self, number: int) -> None:
        for slot in self.slots:
            if slot.process is not None and slot.process.is_alive():
                send_signal(slot.process, number)

    # -- metrics ------------------------------------------------------------------------

    def totals(self) -> Totals:
        with self._lock:
            current = Totals.of(s.exposition for s in self.slots if s.exposition is not None)
            return current.merged(self._retired)

    def registry(self) -> CollectorRegistry:
        registry = CollectorRegistry()
        registry.register(SummedCollector(self.totals))
        live = Gauge("leeway_workers", "Worker processes listening", registry=registry)
        live.set_function(lambda: sum(1 for s in self.slots if s.ready))
        self._restarts = Counter(
            "leeway_worker_restarts", "Workers started again after dying", registry=registry
        )
        return registry

    # -- signals --------------------------------------------------------------------------

    def catch_signals(self) -> None:
        signal.set_wakeup_fd(self._wakeup_writer.fileno())
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(number, self._on_signal)

    def _on_signal(self, number: int, _frame: object) -> None:
        self._signals.append(number)
