"""AuditTrail: events written in batches off the loop, journaled through outages, never twice."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import exc, select

from proxy.audit.journal import Journal
from proxy.audit.trail import AccessEvent, AuditTrail, TrailLimits
from proxy.store.db import session_factory
from proxy.store.events import write_events
from proxy.store.models import AccessEvent as EventRow
from tests.audit_events import access_event
from tests.waiting import eventually_async

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from pathlib import Path

    from sqlalchemy.engine import Engine

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


# The trail's times for tests: seconds become hundredths.
FAST = TrailLimits(flush_interval=0.05, hang_after=0.5, retry_max=0.1)


def event(n: int = 0) -> AccessEvent:
    return access_event(NOW + timedelta(seconds=n), username=f"user{n % 3}")


def stored_ids(engine: Engine) -> list[str]:
    with session_factory(engine)() as session:
        return list(session.scalars(select(EventRow.event_id)))


def assert_stored_once(engine: Engine, events: list[AccessEvent]) -> None:
    counts = Counter(stored_ids(engine))
    assert counts == Counter(e.event_id for e in events), "every event stored exactly once"


WITHIN = 20.0  # seconds for the trail's threads, on a busy machine


def journal_files(path: Path) -> list[Path]:
    """The journal and its replay segment, if any (not the lock file, which stays)."""
    return sorted(f for f in path.parent.glob(path.name + "*") if f.suffix != ".lock")


class Outage:
    """Makes every statement on an engine fail the way a lost database connection does."""

    def __init__(self, engine: Engine) -> None:
        self.down = False
        sa_event.listen(engine, "before_cursor_execute", self._execute)

    def _execute(self, *args: Any) -> None:
        if self.down:
            raise exc.OperationalError("INSERT", {}, Exception("server closed the connection"))


class Hang:
    """Makes inserts of access events wait until released: a write stuck on a lost network."""

    def __init__(self, engine: Engine) -> None:
        self.release = threading.Event()
        sa_event.listen(engine, "before_cursor_execute", self._execute)

    def _execute(self, _conn: Any, _cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("INSERT INTO access_events"):
            self.release.wait(timeout=30)


@pytest.fixture
def outage(engine: Engine) -> Iterator[Outage]:
    with engine.connect():
        pass  # connect-time set-up runs before the listener is installed
    yield Outage(engine)


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    return tmp_path / "journal" / "audit.journal"


@pytest.fixture
def drops() -> list[int]:
    return []


def test_events_are_written_in_batches(engine: Engine, journal: Path, drops: list[int]) -> None:
    events = [event(n) for n in range(10)]

    async def scenario() -> None:
        trail = AuditTrail(engine, journal, replace(FAST, batch_size=3), on_dropped=drops.append)
        await trail.start()
        for e in events:
            trail.submit(e)
        await eventually_async(
            lambda: len(stored_ids(engine)) == 10, "all are stored", within=WITHIN
        )
        await eventually_async(
            lambda: trail.depth() == 0, "the last write is collected", within=WITHIN
        )
        await trail.stop()

    asyncio.run(scenario())
    assert_stored_once(engine, events)
    assert journal_files(journal) == []
    assert drops == []


def test_stop_writes_what_waits(engine: Engine, journal: Path) -> None:
    events = [event(n) for n in range(5)]

    async def scenario() -> None:
        trail = AuditTrail(engine, journal, TrailLimits(flush_interval=60))
        await trail.start()
        for e in events:
            trail.submit(e)
        await trail.stop()

    asyncio.run(scenario())
    assert_stored_once(engine, events)
    assert journal_files(journal) == []


def test_an_outage_journals_events_and_replays_them_once(
    engine: Engine, outage: Outage, journal: Path, drops: list[int]
) -> None:
    before, during = [event(n) for n in range(3)], [event(n) for n in range(3, 23)]

    async def scenario() -> None:
        trail = AuditTrail(engine, journal, replace(FAST, batch_size=4), on_dropped=drops.append)
        await trail.start()
        for e in before:
            trail.submit(e)
        await eventually_async(
            lambda: len(stored_ids(engine)) == 3, "the first events are stored", within=WITHIN
        )
        outage.down = True
        for e in during:
            trail.submit(e)
            await asyncio.sleep(0.005)
        await eventually_async(
            lambda: trail.depth() == 0 and trail.journaled() == 20, "journaled", within=WITHIN
        )
        assert sum(len(f.read_text().splitlines()) for f in journal_files(journal)) == 20
        outage.down = False
        await eventually_async(
            lambda: trail.journaled() == 0, "the journal is replayed", within=WITHIN
        )
        await trail.stop()

    asyncio.run(scenario())
    assert_stored_once(engine, before + during)
    assert journal_files(journal) == []
    assert drops == []


def test_a_full_queue_overflows_to_the_journal(
    engine: Engine, outage: Outage, journal: Path, drops: list[int]
) -> None:
    events = [event(n) for n in range(10)]
    outage.down = True

    async def scenario() -> None:
        trail = AuditTrail(
            engine,
            journal,
            TrailLimits(max_queue=3, flush_interval=60, retry_max=0.1),
            on_dropped=drops.append,
        )
        await trail.start()
        for e in events:
            trail.submit(e)  # never waits: beyond max_queue, the writer journals them
            await asyncio.sleep(0.01)
        await eventually_async(
            lambda: trail.journaled() == 10 and trail.depth() == 0, "journaled", within=WITHIN
        )
        outage.down = False
        await eventually_async(
            lambda: len(stored_ids(engine)) == 10, "all are stored", within=WITHIN
        )
        await trail.stop()

    asyncio.run(scenario())
    assert_stored_once(engine, events)
    assert drops == []


def test_only_a_journal_that_cannot_be_written_drops_events(
    engine: Engine, outage: Outage, journal: Path, drops: list[int]
) -> None:
    events = [event(n) for n in range(6)]
    outage.down = True

    async def scenario() -> None:
        trail = AuditTrail(engine, journal, replace(FAST, max_queue=2), on_dropped=drops.append)
        await trail.start()
        journal.mkdir()  # appending to a directory fails, as on a full disk
        for e in events:
            trail.submit(e)
        await eventually_async(lambda: sum(drops) == 4, "the overflow is dropped", within=WITHIN)
        assert trail.depth() == 2  # the memory queue keeps what it can hold
        journal.rmdir()
        outage.down = False
        await eventually_async(
            lambda: len(stored_ids(engine)) == 2, "the kept events are stored", within=WITHIN
        )
        await trail.stop()

    asyncio.run(scenario())
    assert_stored_once(engine, events[:2])
    assert sum(drops) == 4


class SlowDisk:
    """Makes journal appends wait until released: a disk that takes its time to fsync."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.writing, self.release = threading.Event(), threading.Event()
        append = Journal.append

        def slow_append(journal: Journal, events: Sequence[AccessEvent]) -> None:
            self.writing.set()
            self.release.wait(timeout=30)
            append(journal, events)

        monkeypatch.setattr(Journal, "append", slow_append)


def test_events_on_their_way_to_the_journal_are_still_in_memory(
    engine: Engine, outage: Outage, journal: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = [event(n) for n in range(3)]
    disk = SlowDisk(monkeypatch)
    outage.down = True

    async def scenario() -> None:
        trail = AuditTrail(engine, journal, FAST)
        await trail.start()
        for e in events:
            trail.submit(e)
        try:
            await eventually_async(disk.writing.is_set, "the journal is written", within=WITHIN)
            assert (trail.depth(), trail.journaled()) == (3, 0), "neither stored nor journaled"
        finally:
            disk.release.set()
        await eventually_async(
            lambda: (trail.depth(), trail.journaled()) == (0, 3), "journaled", within=WITHIN
        )
        outage.down = False
        await eventually_async(lambda: len(stored_ids(engine)) == 3, "stored", within=WITHIN)
        await trail.stop()

    asyncio.run(scenario())
    assert_stored_once(engine, events)


def test_start_replays_the_journal_and_skips_what_is_stored(engine: Engine, journal: Path) -> None:
    committed, pending, later = event(1), event(2), event(3)
    write_events(engine, [committed])  # then a crash, before the journal was truncated
    journal.parent.mkdir()
    segment = journal.with_name(journal.name + ".replay")
    segment.write_text(committed.to_json() + "\n" + pending.to_json() + "\n")
    journal.write_text(later.to_json() + "\n" + later.to_json()[:30])  # torn by a SIGKILL

    async def scenario() -> None:
        trail = AuditTrail(engine, journal, FAST)
        await trail.start()
        assert trail.journaled() == 4
        await eventually_async(
            lambda: trail.journaled() == 0, "the journal is replayed", within=WITHIN
        )
        await trail.stop()

    asyncio.run(scenario())
    assert_stored_once(engine, [committed, pending, later])
    assert journal_files(journal) == []


def test_a_hanging_write_is_journaled_and_stored_once(engine: Engine, journal: Path) -> None:
    hang = Hang(engine)
    events = [event(n) for n in range(5)]

    async def scenario() -> None:
        trail = AuditTrail(engine, journal, TrailLimits(flush_interval=0.05, hang_after=0.2))
        await trail.start()
        for e in events:
            trail.submit(e)
        await eventually_async(
            lambda: trail.journaled() == 5, "the stuck batch is journaled", within=WITHIN
        )
        assert trail.depth() == 0
        assert stored_ids(engine) == []
        hang.release.set()
        await eventually_async(
            lambda: trail.journaled() == 0, "the journal is replayed", within=WITHIN
        )
        await trail.stop()

    asyncio.run(scenario())
    assert_stored_once(engine, events)


def test_stop_during_an_outage_journals_and_the_next_start_replays(
    engine: Engine, outage: Outage, journal: Path
) -> None:
    events = [event(n) for n in range(7)]
    outage.down = True

    async def first_run() -> None:
        trail = AuditTrail(engine, journal, TrailLimits(flush_interval=60))
        await trail.start()
        for e in events:
            trail.submit(e)
        await trail.stop()

    async def second_run() -> None:
        trail = AuditTrail(engine, journal, FAST)
        await trail.start()
        await eventually_async(
            lambda: trail.journaled() == 0, "the journal is replayed", within=WITHIN
        )
        await trail.stop()

    asyncio.run(first_run())
    assert len(journal.read_text().splitlines()) == 7
    outage.down = False
    assert stored_ids(engine) == []
    asyncio.run(second_run())
    assert_stored_once(engine, events)


def test_a_journal_is_used_by_one_process_at_a_time(engine: Engine, journal: Path) -> None:
    async def scenario() -> None:
        first, second = AuditTrail(engine, journal), AuditTrail(engine, journal)
        await first.start()
        with pytest.raises(OSError, match=r"audit journal .*audit.journal is in use by another"):
            await second.start()
        await first.stop()
        await second.start()  # free again
        await second.stop()

    asyncio.run(scenario())


def test_submit_before_start_waits_in_memory(engine: Engine, journal: Path) -> None:
    trail = AuditTrail(engine, journal, TrailLimits(max_queue=2))
    for n in range(3):
        trail.submit(event(n))
    assert trail.depth() == 3
    assert trail.journaled() == 0
    assert not journal.parent.exists()  # no I/O until the writer runs


def test_repeated_decisions_are_one_event_per_key_and_flush_interval(
    engine: Engine, journal: Path
) -> None:
    made: list[AccessEvent] = []

    def make(n: int) -> Callable[[], AccessEvent]:
        def build() -> AccessEvent:
            made.append(event(n))
            return made[-1]

        return build

    async def scenario() -> None:
        trail = AuditTrail(engine, journal, TrailLimits(flush_interval=0.3))
        await trail.start()
        for _ in range(4):
            trail.count("wanda", make(0))
            trail.count("xavier", make(1))
            await asyncio.sleep(0.02)  # writes finish and wake the writer meanwhile
        assert trail.depth() == 2, "two keys so far: two events in memory"
        await eventually_async(
            lambda: len(stored_ids(engine)) == 2, "the first interval is written", within=WITHIN
        )
        trail.count("wanda", make(0))  # a new interval: a new event
        await trail.stop()

    asyncio.run(scenario())
    with session_factory(engine)() as session:
        stored = {row.event_id: row.requests for row in session.scalars(select(EventRow))}
    assert stored == {made[0].event_id: 4, made[1].event_id: 4, made[2].event_id: 1}
