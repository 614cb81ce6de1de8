"""The audit trail: access events queued on the event loop, written to the store in batches.

While the store is down they go to a journal on local disk, replayed when it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from proxy.audit_journal import AccessEvent, Journal
from proxy.audit_worker import Worker
from proxy.store.db import StoreUnavailable
from proxy.store.events import write_events

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Sequence
    from pathlib import Path

    from sqlalchemy.engine import Engine

__all__ = ["AccessEvent", "AuditTrail"]

log = logging.getLogger("leeway.audit")


@dataclass(slots=True)
class _Repeated:
    """A decision seen again within one flush: one event that stands for `count` requests."""

    event: AccessEvent
    count: int = 1


@dataclass(slots=True, eq=False)
class _Job:
    """A write the database thread is doing: a batch from memory, or a journal replay."""

    future: asyncio.Future[tuple[int, int]]  # events written or replayed, events refused
    started: float
    batch: list[AccessEvent]  # empty for a replay: those events are already journaled
    journaled: bool = False


class AuditTrail:
    """Takes events on the loop (`submit` never blocks or raises); writes them off it.

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
        *,
        max_queue: int = 10_000,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        hang_after: float = 2.0,
        retry_max: float = 30.0,
        on_dropped: Callable[[int], None] = lambda count: None,  # a drop is logged anyway
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._write = functools.partial(write_events, engine)  # runs in the database thread
        self._journal = Journal(journal_path)
        self._max_queue, self._batch_size = max_queue, batch_size
        self._flush_interval, self._hang_after = flush_interval, hang_after
        self._retry_min, self._retry_max = min(1.0, retry_max), retry_max
        self._on_dropped, self._clock = on_dropped, clock
        self._queue: deque[AccessEvent] = deque()
        self._repeats: dict[Hashable, _Repeated] = {}  # this flush's decisions, by what they say
        self._counting_until = clock() + flush_interval
        self._overflow: list[AccessEvent] = []  # the memory queue is full: journal these
        self._job: _Job | None = None
        self._journaled = 0  # events waiting in the journal (lines, as counted)
        self._retry_at: float | None = None  # set while the store is failing
        self._delay = self._retry_min
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._disk, self._db = Worker("leeway-audit-journal"), Worker("leeway-audit-db")
        self._workers = (self._disk, self._db)

    def submit(self, event: AccessEvent) -> None:
        """Accept `event`: O(1), no I/O. Beyond `max_queue` it is journaled by the writer.

        The decisions counted so far come first: events are stored in the order they happened.
        """
        self._release_repeats()
        self._enqueue(event)

    def _enqueue(self, event: AccessEvent) -> None:
        if len(self._queue) < self._max_queue:
            self._queue.append(event)
            if len(self._queue) == self._batch_size:
                self._wake.set()
        elif len(self._overflow) < self._max_queue:
            self._overflow.append(event)
            self._wake.set()
        else:  # the journal has not kept up with `max_queue` events: the disk is failing
            self._drop(1, "the memory queue and its overflow are full")

    def count(self, key: Hashable, make: Callable[[], AccessEvent]) -> None:
        """Accept one more of an event that repeats (a decision): O(1), no I/O.

        Within one flush, every event with the same `key` is one event, made by the first
        call's `make()`, whose `requests` counts them: a page load's sub-requests are one row.
        """
        repeated = self._repeats.get(key)
        if repeated is not None:
            repeated.count += 1
            return
        if not self._repeats and self._clock() >= self._counting_until:
            self._counting_until = self._clock() + self._flush_interval  # after a quiet while
        self._repeats[key] = _Repeated(make())
        if len(self._repeats) == self._batch_size:
            self._wake.set()

    def depth(self) -> int:
        """Events in memory, neither committed nor journaled yet."""
        job = self._job
        in_flight = 0 if job is None or job.journaled else len(job.batch)
        return len(self._repeats) + len(self._queue) + len(self._overflow) + in_flight

    def journaled(self) -> int:
        """Events waiting in the journal for the store."""
        return self._journaled

    async def start(self) -> None:
        """Lock the journal and count what it holds (`OSError` if unusable); start writing."""
        self._journaled = await asyncio.to_thread(self._journal.open)
        if self._journaled:
            log.info("audit journal %s: %d events to replay", self._journal.path, self._journaled)
        for worker in self._workers:
            worker.start()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="leeway-audit")

    async def stop(self) -> None:
        """Write what the store takes now, journal the rest, and stop the writer."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            await self._disk.run(self._journal.close)
        for worker in self._workers:
            worker.stop()

    async def _run(self) -> None:
        while not self._stopping:
            await self._cycle()
            await self._pulse()
        await self._drain()

    async def _pulse(self) -> None:
        """Wait for `flush_interval`, a full batch, a finished write, the end of the counting
        or the time to retry."""
        timeout = self._flush_interval
        if self._repeats:
            timeout = min(timeout, max(0.0, self._counting_until - self._clock()))
        if self._retry_at is not None and self._job is None:
            timeout = min(timeout, max(0.0, self._retry_at - self._clock()))
        if not self._wake.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
        self._wake.clear()

    def _release_repeats(self) -> None:
        """End the flush's counting: its events join the queue, their counts final."""
        self._counting_until = self._clock() + self._flush_interval
        repeats, self._repeats = self._repeats, {}
        for repeated in repeats.values():
            event = repeated.event
            self._enqueue(event if repeated.count == 1 else replace(event, requests=repeated.count))

    async def _cycle(self) -> None:
        # Once a flush interval, not at every wake-up (a finished write wakes the loop too).
        if self._clock() >= self._counting_until or len(self._repeats) >= self._batch_size:
            self._release_repeats()
        await self._journal_overflow()
        self._collect()
        await self._start_job(replay=True)
        if self._stalled():
            await self._journal_memory()

    async def _drain(self) -> None:
        self._release_repeats()
        await self._settle(self._hang_after)
        while self._queue and self._job is None and self._retry_at is None:
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
            return self._retry_at is not None
        return self._clock() - job.started >= self._hang_after

    async def _start_job(self, *, replay: bool) -> None:
        if self._job is not None or (self._retry_at is not None and self._clock() < self._retry_at):
            return
        if replay and self._journaled:
            try:
                segment = await self._disk.run(self._journal.rotate)
            except OSError as e:
                log.error("audit journal %s cannot be replayed: %s", self._journal.path, e)
                return
            if segment is not None:
                job = self._db.run(self._journal.replay, segment, self._write, self._batch_size)
                self._begin(job, [])
                return
            self._journaled = 0
        if self._queue:
            count = min(len(self._queue), self._batch_size)
            batch = [self._queue.popleft() for _ in range(count)]
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
            self._queue.extendleft(reversed(job.batch))
        self._back_off(error)

    def _recovered(self, job: _Job) -> None:
        written, refused = job.future.result()
        if refused:
            self._drop(refused, "the store refused them (see the errors above)")
        if not job.batch:
            self._journaled = max(0, self._journaled - written - refused)
        if self._retry_at is not None:
            log.info("audit trail: the store is back")
        self._retry_at, self._delay = None, self._retry_min

    def _back_off(self, error: BaseException) -> None:
        if self._retry_at is None:  # the delay was reset when the store last worked
            log.warning("audit trail: journaling events until the store is back: %s", error)
        else:
            self._delay = min(self._delay * 2, self._retry_max)
        self._retry_at = self._clock() + self._delay

    async def _journal_overflow(self) -> None:
        events, self._overflow = self._overflow, []
        try:
            await self._append(events)
        except OSError as e:
            self._drop(len(events), f"the journal cannot be written: {e}")

    async def _journal_memory(self) -> None:
        """Move every event in memory (and a hanging write's batch) to the journal."""
        job = self._job if self._job is not None and not self._job.journaled else None
        queued, overflow, self._overflow = list(self._queue), self._overflow, []
        self._queue.clear()
        try:
            await self._append([*(job.batch if job else ()), *queued, *overflow])
        except OSError as e:
            log.error("audit journal %s cannot be written: %s", self._journal.path, e)
            self._queue.extendleft(reversed(queued))  # kept in memory, up to max_queue
            self._overflow[:0] = overflow
            return
        if job is not None:
            job.journaled = True

    async def _append(self, events: Sequence[AccessEvent]) -> None:
        if events:
            await self._disk.run(self._journal.append, events)
            self._journaled += len(events)

    def _drop(self, count: int, why: str) -> None:
        log.error("audit trail: %d events dropped: %s", count, why)
        self._on_dropped(count)
