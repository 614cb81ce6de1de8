"""EntitlementCache: fresh answers without I/O, one load per user, and a store that fails."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from policy import Reason, Request, parse_policy
from policy.subject import Acknowledgement, Subject
from proxy.runtime.entitlement_cache import EntitlementCache
from proxy.store import models
from proxy.store.db import StoreUnavailable, session_factory
from proxy.store.entitlements import SqlEntitlements
from tests.policy.samples import TEST_POLICY

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from sqlalchemy.engine import Engine

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


class Clock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class FakeSource:
    """An in-memory EntitlementSource that can be slow, held, down or broken."""

    def __init__(self, *known: str, delay: float = 0.0) -> None:
        self.subjects = {name: Subject(username=name, known=True) for name in known}
        self.delay = delay
        self.calls = 0
        self.down = False
        self.broken = False
        self.gate: threading.Event | None = None

    def subject_for(self, username: str, now: datetime) -> Subject:
        self.calls += 1
        if self.gate is not None:
            self.gate.wait(5)
        time.sleep(self.delay)
        if self.down:
            raise StoreUnavailable("database sqlite:///fake.db is unavailable: disk I/O error")
        if self.broken:
            raise KeyError("department") from ValueError("row 7 is corrupt")
        return self.subjects.get(username, Subject.anonymous(username))

    def set_department(self, username: str, department: str) -> None:
        self.subjects[username] = Subject(username=username, known=True, department=department)


def _get(cache: EntitlementCache, username: str) -> Subject:
    return asyncio.run(cache.get(username))


def _run[T](awaitable: Awaitable[T]) -> T:
    async def wrapper() -> T:
        return await awaitable

    return asyncio.run(wrapper())


def _ack(category: str = "social", hours: int = 8) -> Acknowledgement:
    return Acknowledgement(category, acknowledged_at=NOW, expires_at=NOW + timedelta(hours=hours))


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_store_user_is_loaded_once_then_served_from_memory(engine: Engine) -> None:
    with session_factory(engine).begin() as session:
        user = models.User(username="ada", department="finance", created_at=NOW - DAY)
        session.add(user)
        session.flush()
        session.add(
            models.TrainingCompletion(
                user_id=user.id,
                module="social-media-basics",
                completed_at=NOW - DAY,
                source="lms",
                imported_at=NOW,
            )
        )
    cache = EntitlementCache(SqlEntitlements(engine), now=lambda: NOW)
    assert cache.peek("ada") is None

    lookup = _get(cache, "ada")

    assert not lookup.degraded
    assert lookup.known and lookup.department == "finance"
    assert lookup.latest_completion("social-media-basics", NOW) == NOW - DAY
    assert cache.peek("ada") == lookup
    assert _get(cache, "ada") == lookup
    assert (cache.stats.hits, cache.stats.misses, cache.stats.loads) == (2, 1, 1)


def test_user_the_store_does_not_know_is_anonymous_not_degraded(engine: Engine) -> None:
    cache = EntitlementCache(SqlEntitlements(engine), now=lambda: NOW)
    assert _get(cache, "nobody") == Subject.anonymous("nobody")
    assert cache.peek("nobody") == Subject.anonymous("nobody")


def test_fifty_concurrent_lookups_of_one_user_cause_one_load() -> None:
    source = FakeSource("ada", delay=0.05)
    cache = EntitlementCache(source)

    async def many() -> list[Subject]:
        return await asyncio.gather(*(cache.get("ada") for _ in range(50)))

    lookups = _run(many())

    assert source.calls == 1 and cache.stats.loads == 1
    assert {lookup.username for lookup in lookups} == {"ada"}
    assert not any(lookup.degraded for lookup in lookups)


def test_different_users_load_in_parallel() -> None:
    source = FakeSource("ada", "bob", delay=0.3)
    cache = EntitlementCache(source)

    async def both() -> tuple[Subject, Subject]:
        return await asyncio.gather(cache.get("ada"), cache.get("bob"))

    started = time.monotonic()
    _run(both())
    assert time.monotonic() - started < 0.55
    assert source.calls == 2


def test_an_entry_older_than_ttl_is_reloaded(clock: Clock) -> None:
    source = FakeSource("ada")
    cache = EntitlementCache(source, ttl=5.0, clock=clock)
    _get(cache, "ada")
    source.set_department("ada", "comms")

    clock.t += 4.9
    assert cache.peek("ada") == Subject(username="ada", known=True)
    clock.t += 0.1
    assert cache.peek("ada") is None

    assert _get(cache, "ada").department == "comms"
    assert source.calls == 2


def test_least_recently_used_entry_is_evicted_past_max_entries() -> None:
    cache = EntitlementCache(FakeSource("ada", "bob", "cy"), max_entries=2)
    _get(cache, "ada")
    _get(cache, "bob")
    assert cache.peek("ada") is not None  # ada is now more recent than bob

    _get(cache, "cy")

    assert len(cache) == 2
    assert cache.peek("bob") is None
    assert cache.peek("ada") is not None and cache.peek("cy") is not None


def test_store_failure_serves_the_stale_entry_then_anonymous_after_max_stale(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    source = FakeSource("ada")
    cache = EntitlementCache(source, ttl=5.0, max_stale=60.0, clock=clock)
    cached = _get(cache, "ada")
    source.down = True

    clock.t += 10
    assert _get(cache, "ada") == cached
    clock.t += 10
    assert _get(cache, "ada") == cached
    clock.t += 40
    assert _get(cache, "ada") == Subject.anonymous("ada", degraded=True)

    assert cache.stats.store_errors == 3
    messages = [r.getMessage() for r in caplog.records if "'ada'" in r.getMessage()]
    assert len(messages) == 2, "stale, then degraded: each once per user per outage"
    assert "cached 10 s ago" in messages[0] and "no training, no roles" in messages[1]
    assert "disk I/O error" in caplog.text


def test_uncached_user_during_an_outage_is_degraded_anonymous() -> None:
    source = FakeSource("ada")
    source.down = True
    cache = EntitlementCache(source)
    assert _get(cache, "ada") == Subject.anonymous("ada", degraded=True)
    assert cache.peek("ada") is None, "a fallback is never cached as a fresh answer"


def test_after_a_failure_no_load_is_tried_until_retry_after(clock: Clock) -> None:
    source = FakeSource("ada", "bob")
    source.down = True
    cache = EntitlementCache(source, ttl=5.0, clock=clock)
    _get(cache, "ada")

    clock.t += 4
    assert _get(cache, "bob").degraded
    assert source.calls == 1, "a failing store is not asked again within retry_after"

    clock.t += 1
    _get(cache, "bob")
    assert source.calls == 2


def test_a_long_ttl_still_retries_a_failed_store_after_5s(clock: Clock) -> None:
    source = FakeSource("ada", "bob")
    source.down = True
    cache = EntitlementCache(source, ttl=60.0, clock=clock)
    assert _get(cache, "ada").degraded

    source.down = False
    clock.t += 5
    assert _get(cache, "bob") == source.subjects["bob"]


def test_recovery_when_the_store_works_again(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    source = FakeSource("ada")
    source.down = True
    cache = EntitlementCache(source, ttl=5.0, clock=clock)
    assert _get(cache, "ada").degraded

    source.down = False
    clock.t += 5
    with caplog.at_level(logging.INFO):
        lookup = _get(cache, "ada")

    assert lookup == Subject(username="ada", known=True)
    assert cache.peek("ada") == lookup
    assert "available again" in caplog.text


def test_an_unexpected_error_is_logged_with_its_cause_and_never_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = FakeSource("ada")
    source.broken = True
    cache = EntitlementCache(source)

    assert _get(cache, "ada") == Subject.anonymous("ada", degraded=True)
    assert "row 7 is corrupt" in caplog.text and "KeyError" in caplog.text

    source.broken = False
    assert not _get(cache, "ada").degraded, "a bug for one user is no outage: no back-off"


def test_a_slow_load_does_not_block_the_event_loop() -> None:
    cache = EntitlementCache(FakeSource("ada", delay=0.5))

    async def scenario() -> tuple[Subject, int]:
        ticks = 0
        load = asyncio.create_task(cache.get("ada"))
        while not load.done():
            await asyncio.sleep(0.01)
            ticks += 1
        return await load, ticks

    lookup, ticks = _run(scenario())
    assert lookup.known
    assert ticks >= 20, f"the loop ticked only {ticks} times during a 0.5 s load"


def test_a_cancelled_waiter_does_not_cancel_the_shared_load() -> None:
    source = FakeSource("ada", delay=0.1)
    cache = EntitlementCache(source)

    async def scenario() -> Subject:
        first = asyncio.create_task(cache.get("ada"))
        second = asyncio.create_task(cache.get("ada"))
        await asyncio.sleep(0.02)
        first.cancel()
        return await second

    assert _run(scenario()).known
    assert source.calls == 1


def test_invalidate_one_user_or_everybody() -> None:
    source = FakeSource("ada", "bob")
    cache = EntitlementCache(source)
    _get(cache, "ada")
    _get(cache, "bob")

    cache.invalidate("ada")
    assert cache.peek("ada") is None and cache.peek("bob") is not None
    cache.invalidate()
    assert cache.peek("bob") is None

    _get(cache, "ada")
    assert source.calls == 3


def test_an_invalidated_entry_still_serves_during_an_outage() -> None:
    source = FakeSource("ada")
    cache = EntitlementCache(source)
    cached = _get(cache, "ada")
    cache.invalidate()
    source.down = True
    assert _get(cache, "ada") == cached


@pytest.mark.parametrize("who", ["ada", None], ids=["one user", "everybody"])
def test_an_invalidation_ends_the_back_off_after_a_failure(
    who: str | None, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """A change announced by the database (after a restart, the listener's "reload
    everybody") shows that it answers again: the next lookup loads, instead of serving
    the fallback until `retry_after` runs out."""
    source = FakeSource("ada", "bob")
    cache = EntitlementCache(source, ttl=60.0, clock=clock)
    _get(cache, "ada")
    source.down = True
    assert _get(cache, "bob").degraded  # the failed load starts the back-off

    source.down = False
    source.set_department("ada", "Policy")
    clock.t += 1
    cache.invalidate(who)
    with caplog.at_level(logging.INFO):
        lookup = _get(cache, "ada")

    assert lookup == source.subjects["ada"]
    assert cache.peek("ada") == lookup
    assert "available again" in caplog.text


def test_a_load_running_when_invalidated_is_not_cached() -> None:
    source = FakeSource("ada")
    source.gate = threading.Event()
    cache = EntitlementCache(source)

    async def scenario() -> Subject:
        load = asyncio.create_task(cache.get("ada"))
        while source.calls == 0:
            await asyncio.sleep(0.005)
        cache.invalidate("ada")
        assert source.gate is not None
        source.gate.set()
        return await load

    assert _run(scenario()).known, "its waiters still get the answer"
    assert cache.peek("ada") is None, "but it may predate the change"


def test_an_acknowledgement_counts_at_once_and_survives_reloads() -> None:
    source = FakeSource("ada")
    cache = EntitlementCache(source, now=lambda: NOW)
    _get(cache, "ada")
    ack = _ack()

    cache.add_acknowledgement("ada", ack)
    subject = cache.peek("ada")
    assert subject is not None and subject.acknowledged("social", NOW) == ack

    cache.invalidate("ada")  # reloaded from a store that does not have it yet
    assert _get(cache, "ada").acknowledged("social", NOW) == ack
    assert source.calls == 2


def test_an_acknowledgement_counts_for_an_uncached_user_while_the_store_is_down() -> None:
    source = FakeSource("ada")
    source.down = True
    cache = EntitlementCache(source, now=lambda: NOW)
    cache.add_acknowledgement("ada", _ack())

    lookup = _get(cache, "ada")
    assert lookup.degraded
    assert lookup.acknowledged("social", NOW) is not None


def test_an_expired_acknowledgement_is_no_longer_laid_over() -> None:
    moments = iter([NOW, NOW + timedelta(hours=9)])
    cache = EntitlementCache(FakeSource("ada"), now=lambda: next(moments))
    cache.add_acknowledgement("ada", _ack(hours=8))
    assert _get(cache, "ada").acknowledgements == (_ack(hours=8),)
    cache.invalidate("ada")
    assert _get(cache, "ada").acknowledgements == ()


@pytest.mark.parametrize("failure", ["down", "broken"])
def test_the_fail_mode_subject_is_decided_with_reason_store_unavailable(failure: str) -> None:
    source = FakeSource("ada")
    setattr(source, failure, True)
    subject = _get(EntitlementCache(source, now=lambda: NOW), "ada")
    policy = parse_policy(TEST_POLICY.encode(), source="test", label="policy.toml")
    decision = policy.decide(subject, Request.to("www.facebook.com"), NOW)
    assert subject.degraded
    assert (decision.action, decision.reason) == ("warn", Reason.STORE_UNAVAILABLE)


def test_continues_clicked_again_are_laid_over_once_per_category() -> None:
    cache = EntitlementCache(FakeSource("ada"), now=lambda: NOW)
    for minute in range(1000):
        at = NOW + timedelta(minutes=minute)
        cache.add_acknowledgement("ada", Acknowledgement("social", at, at + timedelta(hours=8)))
    cache.add_acknowledgement("ada", _ack("rich-media"))
    acks = _get(cache, "ada").acknowledgements
    last = NOW + timedelta(minutes=999)
    assert [(a.category, a.acknowledged_at) for a in acks] == [
        ("social", last),
        ("rich-media", NOW),
    ]
