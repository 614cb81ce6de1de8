"""The audit trail: access events queued on the event loop, written to the store in batches.

While the store is down they go to a journal on local disk, replayed when it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from addons.tasks import start_task
from proxy.audit.limits import DEFAULT_LIMITS, TrailLimits
from proxy.audit.memory import Memory, Repeats
from proxy.audit.spool import Spool
from proxy.audit.writer_thread import Worker
from proxy.backoff import Backoff
from proxy.store.access_event import AccessEvent
from proxy.store.db import StoreUnavailable
from proxy.store.events import write_events

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable
    from pathlib import Path

    from sqlalchemy.engine import Engine

__all__ = ["AccessEvent", "AuditTrail", "TrailLimits"]

log = logging.getLogger("leeway.audit")


@dataclass(slots=True, eq=False)
class _Job:
    """A write the database thread is doing: a batch from memory, or a journal replay."""

    future: asyncio.Future[tuple[int, int]]  # events written or replayed, events refused
    started: float
    batch: list[AccessEvent]  # empty for a replay: those events are already journaled
    journaled: bool = False


class AuditTrail:
    """Takes events on the loop (`submit` never blocks or raises); writes them off it, within
    its `TrailLimits`.

    Journaled events are replayed in order, at most once per `event_id`, when the store
    is back and after a restart. Durability: an accepted event is in memory until it is
    committed or journaled (fsynced), typically `flush_interval` plus one batch write or
    one fsync, and never longer than `flush_interval` plus `hang_after` (a write hanging
    on a lost network). Only events accepted within that window (about a second, three at
    worst with the defaults) are lost to a SIGKILL; a clean `stop` loses nothing.
    """

    def __init__(
        self,
        engine: Engine,
        journal_path: Path,
        limits: TrailLimits = DEFAULT_LIMITS,
        *,
        on_dropped: Callable[[int], None] = lambda count: None,  # a drop is logged anyway
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._write = functools.partial(write_events, engine)  # runs in the database thread
        self._spool = Spool(journal_path, self._drop)
        self._batch_size = limits.batch_size
        self._flush_interval, self._hang_after = limits.flush_interval, limits.hang_after
        self._on_dropped, self._clock = on_dropped, clock
        self._wake = asyncio.Event()
        self._memory = Memory(
            Repeats(limits.flush_interval, clock),
            max_queue=limits.max_queue,
            batch_size=limits.batch_size,
            wake=self._wake.set,
            drop=self._drop,
        )
        self._job: _Job | None = None
        self._backoff = Backoff(min(1.0, limits.retry_max), limits.retry_max, clock=clock)
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._db = Worker("leeway-audit-db")

    def submit(self, event: AccessEvent) -> None:
        """Accept `event`: O(1), no I/O. Beyond `max_queue` it is journaled by the writer.

        The decisions counted so far come first: events are stored in the order they happened.
        """
        self._memory.submit(event)

    def count(self, key: Hashable, make: Callable[[], AccessEvent]) -> None:
        """Accept one more of an event that repeats (a decision): O(1), no I/O.

        Within one flush, every event with the same `key` is one event, made by the first
        call's `make()`, whose `requests` counts them: a page load's sub-requests are one row.
        """
        self._memory.count(key, make)

    def depth(self) -> int:
        """Events neither committed nor journaled yet: in memory, or on their way to either."""
        job = self._job
        in_flight = 0 if job is None or job.journaled else len(job.batch)
        return len(self._memory) + in_flight + self._spool.writing

    def journaled(self) -> int:
        """Events waiting in the journal for the store."""
        return self._spool.waiting

    async def start(self) -> None:
        """Lock the journal and count what it holds (`OSError` if unusable); start writing."""
        await self._spool.open()
        self._db.start()
        self._task = start_task(self._run(), name="leeway-audit")

    async def stop(self) -> None:
        """Write what the store takes now, journal the rest, and stop the writer."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            await self._spool.close()
        self._spool.stop()
        self._db.stop()

    async def _run(self) -> None:
        while not self._stopping:
            await self._cycle()
            await self._pulse()
        await self._drain()

    async def _pulse(self) -> None:
        """Wait for `flush_interval`, a full batch, a finished write, the end of the counting
        or the time to retry."""
        timeout = self._flush_interval
        if repeats := self._memory.repeats:
            timeout = min(timeout, repeats.remaining())
        if self._backoff.failing and self._job is None:
            timeout = min(timeout, self._backoff.wait())
        if not self._wake.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
        self._wake.clear()

    async def _cycle(self) -> None:
        # Once a flush interval, not at every wake-up (a finished write wakes the loop too).
        if self._memory.counting_done():
            self._memory.release()
        await self._spool.overflow(self._memory.take_overflow())
        self._collect()
        await self._start_job(replay=True)
        if self._stalled():
            await self._journal_memory()

    async def _drain(self) -> None:
        self._memory.release()
        await self._settle(self._hang_after)
        while self._memory.queue and self._job is None and not self._backoff.failing:
            await self._start_job(replay=False)
            await self._settle(self._hang_after)
        await self._journal_memory()
        if lost := self.depth():
            log.error("audit trail stopped with %d events neither stored nor journaled", lost)

    async def _settle(self, timeout: float) -> None:
        if self._job is not None:
            await asyncio.wait({self._job.future}, timeout=timeout)
            self._collect()

    def _stalled(self) -> bool:
        """Whether events in memory must go to the journal: the store is failing or hanging."""
        job = self._job
        if job is None:
            return self._backoff.failing
        return self._clock() - job.started >= self._hang_after

    async def _start_job(self, *, replay: bool) -> None:
        if self._job is not None or not self._backoff.ready():
            return
        if replay and self._spool.waiting:
            journal = self._spool.journal
            try:
                segment = await self._spool.rotate()
            except OSError as e:
                log.error("audit journal %s cannot be replayed: %s", journal.path, e)
                return
            if segment is not None:
                job = self._db.run(journal.replay, segment, self._write, self._batch_size)
                self._begin(job, [])
                return
        if self._memory.queue:
            batch = self._memory.batch()
            self._begin(self._db.run(self._write, batch), batch)

    def _begin(self, future: asyncio.Future[tuple[int, int]], batch: list[AccessEvent]) -> None:
        future.add_done_callback(lambda _: self._wake.set())
        self._job = _Job(future, self._clock(), batch)

    def _collect(self) -> None:
        """Take the result of a finished write: refused rows, or back off on a failure."""
        job = self._job
        if job is None or not job.future.done():
            return
        self._job = None
        if (error := job.future.exception()) is None:
            self._recovered(job)
            return
        if not isinstance(error, StoreUnavailable):
            log.error("audit write failed; events kept for a retry", exc_info=error)
        if job.batch and not job.journaled:
            self._memory.put_back(job.batch)
        if not self._backoff.failing:
            log.warning("audit trail: journaling events until the store is back: %s", error)
        self._backoff.failed()

    def _recovered(self, job: _Job) -> None:
        written, refused = job.future.result()
        if refused:
            self._drop(refused, "the store refused them (see the errors above)")
        if not job.batch:
            self._spool.replayed(written + refused)
        if self._backoff.failing:
            log.info("audit trail: the store is back")
        self._backoff.succeeded()

    async def _journal_memory(self) -> None:
        """Move every event in memory (and a hanging write's batch) to the journal."""
        job = self._job if self._job is not None and not self._job.journaled else None
        queued, overflow = list(self._memory.queue), self._memory.take_overflow()
        self._memory.queue.clear()
        if job is not None:
            job.journaled = True  # meanwhile its batch counts in the spool's `writing`
        try:
            await self._spool.append([*(job.batch if job else ()), *queued, *overflow])
        except OSError as e:
            log.error("audit journal %s cannot be written: %s", self._spool.journal.path, e)
            self._memory.put_back(queued)  # kept in memory, up to max_queue
            self._memory.overflow[:0] = overflow
            if job is not None:
                job.journaled = False

    def _drop(self, count: int, why: str) -> None:
        log.error("audit trail: %d events dropped: %s", count, why)
        self._on_dropped(count)
