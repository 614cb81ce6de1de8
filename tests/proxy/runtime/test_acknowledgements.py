"""AcknowledgementWriter: a Continue counts at once, is stored, and waits out an outage."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import event, exc, select

from policy.subject import Acknowledgement
from proxy.runtime.acknowledgements import AcknowledgementWriter
from proxy.runtime.entitlement_cache import EntitlementCache
from proxy.store import models
from proxy.store.db import session_factory
from proxy.store.entitlements import SqlEntitlements

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.engine import Engine

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
TTL = timedelta(hours=8)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Outage:
    """Makes every statement on an engine fail the way a lost database connection does."""

    def __init__(self, engine: Engine) -> None:
        self.down = False
        self.attempts = 0
        event.listen(engine, "before_cursor_execute", self._execute)

    def _execute(self, *args: Any) -> None:
        if self.down:
            self.attempts += 1
            raise exc.OperationalError("SELECT", {}, Exception("server closed the connection"))


@pytest.fixture
def outage(engine: Engine) -> Iterator[Outage]:
    with engine.connect():
        pass  # connect-time set-up runs before the listener is installed
    yield Outage(engine)


@pytest.fixture
def cache(engine: Engine) -> EntitlementCache:
    return EntitlementCache(SqlEntitlements(engine), now=lambda: NOW)


def _record(writer: AcknowledgementWriter, username: str, category: str = "social") -> Any:
    return asyncio.run(writer.record(username, category, NOW, TTL, "10.0.0.7"))


def _stored(engine: Engine) -> list[tuple[str, str]]:
    query = (
        select(models.User.username, models.Acknowledgement.category)
        .join(models.User, models.User.id == models.Acknowledgement.user_id)
        .order_by(models.Acknowledgement.id)
    )
    with session_factory(engine)() as session:
        return [(username, category) for username, category in session.execute(query)]


def test_record_counts_at_once_and_is_stored(engine: Engine, cache: EntitlementCache) -> None:
    writer = AcknowledgementWriter(engine, cache)

    ack = _record(writer, "ada")

    assert ack == Acknowledgement("social", NOW, NOW + TTL)
    assert _stored(engine) == [("ada", "social")]
    assert writer.pending == 0
    subject = SqlEntitlements(engine).subject_for("ada", NOW)
    assert subject.known and subject.acknowledged("social", NOW) == ack
    assert asyncio.run(cache.get("ada")).acknowledged("social", NOW) == ack


def test_a_cached_user_gains_the_acknowledgement_before_any_reload(
    engine: Engine, cache: EntitlementCache
) -> None:
    asyncio.run(cache.get("ada"))
    loads = cache.stats.loads

    _record(AcknowledgementWriter(engine, cache), "ada")

    subject = cache.peek("ada")
    assert subject is not None and subject.acknowledged("social", NOW) is not None
    assert cache.stats.loads == loads


def test_an_outage_keeps_the_acknowledgement_in_memory_and_writes_it_later(
    engine: Engine, cache: EntitlementCache, outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    writer = AcknowledgementWriter(engine, cache)
    outage.down = True

    ack = _record(writer, "ada")

    assert writer.pending == 1
    assert "1 acknowledgements wait for the store" in caplog.text
    assert "server closed the connection" in caplog.text
    lookup = asyncio.run(cache.get("ada"))
    assert lookup.degraded and lookup.acknowledged("social", NOW) == ack

    outage.down = False
    assert asyncio.run(writer.flush()) == 0
    assert _stored(engine) == [("ada", "social")]


def test_the_next_record_after_the_outage_writes_the_waiting_ones(
    engine: Engine, cache: EntitlementCache, outage: Outage
) -> None:
    clock = Clock()
    writer = AcknowledgementWriter(engine, cache, retry_after=5.0, clock=clock)
    outage.down = True
    _record(writer, "ada")
    attempts = outage.attempts

    clock.t += 1
    _record(writer, "bob")
    assert outage.attempts == attempts, "within retry_after a click does not wait for the store"
    assert writer.pending == 2

    outage.down = False
    clock.t += 5
    _record(writer, "cy")
    assert writer.pending == 0
    assert [username for username, _ in _stored(engine)] == ["ada", "bob", "cy"]


def test_the_waiting_list_is_bounded(
    engine: Engine, cache: EntitlementCache, outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    writer = AcknowledgementWriter(engine, cache, max_pending=2)
    outage.down = True
    for username in ("ada", "bob", "cy"):
        _record(writer, username)

    assert writer.pending == 2
    assert "'social' by 'ada' will not be stored" in caplog.text
    outage.down = False
    asyncio.run(writer.flush())
    assert [username for username, _ in _stored(engine)] == ["bob", "cy"]


def test_concurrent_records_write_each_acknowledgement_once(
    engine: Engine, cache: EntitlementCache
) -> None:
    writer = AcknowledgementWriter(engine, cache)

    async def clicks() -> None:
        categories = [f"category-{i}" for i in range(10)]
        await asyncio.gather(*(writer.record("ada", c, NOW, TTL, None) for c in categories))

    asyncio.run(clicks())
    assert len(_stored(engine)) == 10
    assert writer.pending == 0


@pytest.mark.parametrize(
    "db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_a_row_the_database_refuses_is_logged_and_dropped(
    engine: Engine, cache: EntitlementCache, caplog: pytest.LogCaptureFixture
) -> None:
    writer = AcknowledgementWriter(engine, cache)
    _record(writer, "ada", "x" * 101)  # longer than the column

    assert writer.pending == 0
    assert "the store refused acknowledgement 'xxx" in caplog.text
    _record(writer, "ada")
    assert _stored(engine) == [("ada", "social")]


def test_a_naive_now_is_refused_before_anything_changes(
    engine: Engine, cache: EntitlementCache
) -> None:
    writer = AcknowledgementWriter(engine, cache)
    naive = datetime(2026, 6, 15, 12, 0)  # no tzinfo: the point of the test
    with pytest.raises(ValueError, match="naive datetime"):
        asyncio.run(writer.record("ada", "social", naive, TTL, None))
    assert writer.pending == 0
