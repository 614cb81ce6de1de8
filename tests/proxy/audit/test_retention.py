"""Retention: old events pruned, old usernames pseudonymised, by hand or once a day."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from proxy.audit.retention import PSEUDONYM_KEY, Retention, RetentionResult, apply_retention
from proxy.audit.trail import AccessEvent
from proxy.store.db import make_engine, session_factory
from proxy.store.events import pseudonym, write_events
from proxy.store.keys import signing_key
from proxy.store.models import AccessEvent as EventRow
from proxy.store.records_retention import RecordsPruned
from tests.audit_events import access_event
from tests.proxy.store import test_records_retention as records

if TYPE_CHECKING:
    from pathlib import Path

    import pytest
    from sqlalchemy.engine import Engine

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def event(username: str, days_ago: int) -> AccessEvent:
    return access_event(
        NOW - timedelta(days=days_ago),
        kind="acknowledgement",
        username=username,
        department=None,
        host="www.youtube.com",
        category="rich-media",
        action="allow",
        reason="acknowledged",
    )


def usernames(engine: Engine) -> list[str | None]:
    with session_factory(engine)() as session:
        return list(session.scalars(select(EventRow.username).order_by(EventRow.occurred_at)))


def seed(engine: Engine) -> None:
    write_events(engine, [event("alice", 100), event("alice", 40), event("bob", 5)])


def test_apply_prunes_then_pseudonymises(engine: Engine) -> None:
    seed(engine)
    result = apply_retention(
        engine, retention=timedelta(days=90), pseudonymise_after=timedelta(days=30), now=NOW
    )
    assert result == RetentionResult(pruned=1, pseudonymised=1)
    key = signing_key(engine, PSEUDONYM_KEY)
    assert usernames(engine) == [pseudonym(key, "alice"), "bob"]


def test_apply_also_prunes_what_ended_with_the_events(engine: Engine) -> None:
    records.seed(engine, NOW)
    result = apply_retention(engine, retention=timedelta(days=90), pseudonymise_after=None, now=NOW)
    assert result.records == RecordsPruned(acknowledgements=1, requests=2)
    again = apply_retention(engine, retention=None, pseudonymise_after=None, now=NOW)
    assert again.records == RecordsPruned(0, 0)


def test_apply_with_nothing_configured_changes_nothing(engine: Engine) -> None:
    seed(engine)
    result = apply_retention(engine, retention=None, pseudonymise_after=None, now=NOW)
    assert result == RetentionResult(0, 0)
    assert usernames(engine) == ["alice", "alice", "bob"]


def test_retention_applies_at_start_and_again_every_interval(engine: Engine) -> None:
    seed(engine)
    retention = Retention(
        engine,
        retention=timedelta(days=30),
        pseudonymise_after=None,
        interval=0.05,
        now=lambda: NOW,
    )

    async def scenario() -> None:
        retention.running()
        for _ in range(200):
            if usernames(engine) == ["bob"]:
                break
            await asyncio.sleep(0.01)
        write_events(engine, [event("carol", 60)])  # arrives late: the next round prunes it
        for _ in range(200):
            if usernames(engine) == ["bob"]:
                break
            await asyncio.sleep(0.01)
        retention.done()

    asyncio.run(scenario())
    assert usernames(engine) == ["bob"]


def test_retention_without_settings_starts_no_task(engine: Engine) -> None:
    async def scenario() -> None:
        retention = Retention(engine, retention=None, pseudonymise_after=None)
        retention.running()
        assert asyncio.all_tasks() == {asyncio.current_task()}
        retention.done()

    asyncio.run(scenario())


def test_a_store_that_is_down_is_retried_later(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'unmounted' / 'leeway.db'}")
    retention = Retention(engine, retention=timedelta(days=30), pseudonymise_after=None)
    try:
        assert asyncio.run(retention.apply()) is None
    finally:
        engine.dispose()
    assert "audit retention not applied, retrying in 600s" in caplog.text
