"""Spool: the journal in its own thread, and the count of events waiting in it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from proxy.audit.spool import Spool
from tests.audit_events import access_event

if TYPE_CHECKING:
    from pathlib import Path

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
EVENTS = [access_event(NOW + timedelta(seconds=n)) for n in range(3)]


def test_appended_events_are_counted_and_rotated_for_replay(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "audit.journal", lambda n, why: None)

    async def scenario() -> tuple[int, int, int]:
        await spool.open()
        try:
            await spool.append(EVENTS)
            await spool.append([])
            appended = spool.waiting
            segment = await spool.rotate()
            assert segment is not None
            replayed = list(spool.journal.read(segment, 10))
            spool.replayed(2)
            after_replay = spool.waiting
            spool.journal.discard(segment)
            assert await spool.rotate() is None
            return appended, sum(map(len, replayed)), after_replay
        finally:
            await spool.close()
            spool.stop()

    assert asyncio.run(scenario()) == (3, 3, 1)
    assert spool.waiting == 0, "an empty journal resets the count"


def test_reopening_counts_what_the_journal_holds(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "audit.journal"

    async def write_then_reopen() -> int:
        first = Spool(path, lambda n, why: None)
        await first.open()
        await first.append(EVENTS)
        await first.close()
        first.stop()
        again = Spool(path, lambda n, why: None)
        await again.open()
        await again.close()
        again.stop()
        return again.waiting

    with caplog.at_level("INFO"):
        assert asyncio.run(write_then_reopen()) == 3
    assert f"audit journal {path}: 3 events to replay" in caplog.text


def test_an_overflow_the_disk_refuses_is_dropped_and_said_to_be(tmp_path: Path) -> None:
    drops: list[tuple[int, str]] = []
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    spool = Spool(tmp_path / "audit.journal", lambda n, why: drops.append((n, why)))

    async def scenario() -> None:
        await spool.open()
        spool.journal.path = blocker / "audit.journal"  # the disk fails from now on
        try:
            await spool.overflow(EVENTS)
        finally:
            spool.stop()

    asyncio.run(scenario())
    assert [n for n, _ in drops] == [3]
    assert drops[0][1].startswith("the journal cannot be written: ")
    assert spool.waiting == 0
