"""Training gauges read from real rows (SQLite and PostgreSQL), cached, and kept through outages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from proxy.metrics.proxy_metrics import Metrics
from proxy.metrics.store_gauges import Readings, StoreGaugeCollector, StoreGauges
from proxy.store import models
from proxy.store.access_requests import State, approve, ask, deny
from proxy.store.db import StoreUnavailable, make_engine, session_factory

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.engine import Engine

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
YEAR = 365 * DAY
MODULES = {"basics": YEAR, "induction": None, "unused": YEAR}

# user -> (department, completions of "basics" as days before NOW; negative: in the future)
PEOPLE: dict[str, tuple[str | None, tuple[float, ...]]] = {
    "recent": ("finance", (10,)),
    "expiring": ("finance", (360,)),  # runs out in 5 days, within the 14-day notice
    "notice-edge": ("finance", (351,)),  # runs out in exactly 14 days: expiring
    "just-expired": ("legal", (365,)),  # runs out now: expired
    "long-expired": ("legal", (400,)),
    "renewed": ("it", (400, 100)),  # the latest completion counts, and only once
    "renewed-in-time": ("it", (360, 5)),  # the renewal ends the reminder
    "early-booking": (None, (360, -1)),  # tomorrow's completion is not yet: still expiring
    "not-yet": (None, (-1,)),
    "today": (None, (0,)),
}


def _people(engine: Engine) -> None:
    with session_factory(engine).begin() as session:
        for name, (department, days) in PEOPLE.items():
            user = models.User(username=name, department=department, created_at=NOW - YEAR)
            session.add(user)
            session.flush()
            for before in days:
                session.add(_completion(user.id, "basics", NOW - before * DAY))
        first = session.query(models.User).filter_by(username="recent").one()
        session.add(_completion(first.id, "induction", NOW - 1000 * DAY))
        session.add(_completion(first.id, "not-in-the-policy", NOW - DAY))


def _completion(user_id: int, module: str, at: datetime) -> models.TrainingCompletion:
    return models.TrainingCompletion(
        user_id=user_id, module=module, completed_at=at, source="test", imported_at=NOW
    )


def test_trained_and_expiring_users_per_module(engine: Engine) -> None:
    _people(engine)
    gauges = StoreGauges(engine, MODULES, renewal_notice=14 * DAY, now=lambda: NOW)
    assert gauges.read().modules == {
        # recent, expiring, notice-edge, renewed, renewed-in-time, early-booking, today
        "basics": (7, 3),
        "induction": (1, 0),  # no validity: valid for ever, never expiring
        "unused": (0, 0),
    }


def test_department_sizes(engine: Engine) -> None:
    _people(engine)
    gauges = StoreGauges(engine, MODULES, renewal_notice=14 * DAY)
    assert gauges.department_sizes() == {"finance": 3, "legal": 2, "it": 2, None: 3}


def test_a_policy_without_modules_reads_nothing(engine: Engine) -> None:
    assert StoreGauges(engine, {}, renewal_notice=DAY).read().modules == {}


def test_the_gauges_are_scraped_from_the_store(engine: Engine) -> None:
    _people(engine)
    registry = CollectorRegistry()
    metrics = Metrics(registry, categories=["social"])
    metrics.watch_store(StoreGauges(engine, MODULES, renewal_notice=14 * DAY, now=lambda: NOW))
    assert registry.get_sample_value("leeway_users_trained", {"module": "basics"}) == 7
    assert registry.get_sample_value("leeway_users_training_expiring", {"module": "basics"}) == 3
    assert registry.get_sample_value("leeway_users_trained", {"module": "unused"}) == 0


def _requests(engine: Engine) -> None:
    """Five requests: two pending, two approved, one denied."""
    with session_factory(engine).begin() as session:
        ids = [
            ask(
                session, username=name, category="social", role=role, justification="j", now=NOW
            ).request.id
            for name in ("recent", "expiring", "today")
            for role in ("comms-publisher", "manager")
        ][:5]
        approve(session, ids[0], operator="hr", now=NOW)
        approve(session, ids[1], operator="hr", now=NOW)
        deny(session, ids[2], operator="hr", reason="no", now=NOW)


def test_access_requests_by_state_are_scraped_without_names(engine: Engine) -> None:
    _people(engine)
    registry = CollectorRegistry()
    Metrics(registry, categories=["social"]).watch_store(StoreGauges(engine, {}, DAY))
    for state in ("pending", "approved", "denied"):
        assert registry.get_sample_value("leeway_access_requests", {"state": state}) == 0
    _requests(engine)
    fresh = CollectorRegistry()  # the first registry keeps its read for 30 s
    Metrics(fresh, categories=["social"]).watch_store(StoreGauges(engine, {}, DAY))
    counts = {
        state: fresh.get_sample_value("leeway_access_requests", {"state": state})
        for state in ("pending", "approved", "denied")
    }
    assert counts == {"pending": 3, "approved": 2, "denied": 1}
    [family] = [m for m in fresh.collect() if m.name == "leeway_access_requests"]
    assert {tuple(sample.labels) for sample in family.samples} == {("state",)}


class FakeSource:
    def __init__(self) -> None:
        self.reads = 0
        self.failing = False

    def read(self) -> Readings:
        self.reads += 1
        if self.failing:
            raise StoreUnavailable("database test is unavailable: down")
        return Readings({"basics": (self.reads, 0)}, {State.PENDING: self.reads})


def test_reads_are_cached_and_an_outage_keeps_the_last_values() -> None:
    clock, errors = [100.0], []
    registry, source = CollectorRegistry(), FakeSource()
    collector = StoreGaugeCollector(
        source, lambda: errors.append(1), max_age=30, clock=lambda: clock[0]
    )
    registry.register(collector)

    def trained() -> float | None:
        return registry.get_sample_value("leeway_users_trained", {"module": "basics"})

    assert (trained(), trained()) == (1, 1)
    assert registry.get_sample_value("leeway_access_requests", {"state": "pending"}) == 1
    clock[0] += 29.9
    assert trained() == 1
    assert source.reads == 1
    clock[0] += 0.1
    source.failing = True
    assert trained() == 1
    assert errors == [1]
    clock[0] += 10
    assert trained() == 1
    assert source.reads == 2  # a failing store is not asked again before max_age
    clock[0] += 20
    source.failing = False
    assert trained() == 3
    assert registry.get_sample_value("leeway_access_requests", {"state": "pending"}) == 3
    assert errors == [1]


def test_nothing_is_reported_before_the_first_good_read(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/no/such/dir/leeway.db")
    registry = CollectorRegistry()
    try:
        Metrics(registry, categories=[]).watch_store(StoreGauges(engine, MODULES, DAY))
        assert registry.get_sample_value("leeway_users_trained", {"module": "basics"}) is None
        assert registry.get_sample_value("leeway_store_errors_total") == 1
    finally:
        engine.dispose()


def test_watching_again_replaces_the_source() -> None:
    registry, first, second = CollectorRegistry(), FakeSource(), FakeSource()
    metrics = Metrics(registry, categories=[])
    metrics.watch_store(first)
    assert registry.get_sample_value("leeway_users_trained", {"module": "basics"}) == 1
    second.reads = 41
    metrics.watch_store(second)
    assert registry.get_sample_value("leeway_users_trained", {"module": "basics"}) == 42
