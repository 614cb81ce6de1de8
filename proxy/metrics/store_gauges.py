"""Metrics read at scrape time: training coverage and access requests from the store, cache
counters, queue depth.

A scrape runs in prometheus_client's HTTP thread, so a query there never blocks the event loop.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from proxy.store import queries
from proxy.store.access_requests import State, count_by_state
from proxy.store.db import StoreUnavailable, session_factory, store_errors

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from prometheus_client.metrics_core import Metric
    from sqlalchemy.engine import Engine, Row
    from sqlalchemy.orm import Session

    from policy.engine import Policy

log = logging.getLogger("leeway.metrics")


class CacheStats(Protocol):
    """What the metrics read of an entitlement cache's counters (`EntitlementCache.stats`)."""

    @property
    def hits(self) -> int: ...
    @property
    def misses(self) -> int: ...
    @property
    def loads(self) -> int: ...
    @property
    def store_errors(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Readings:
    """One read of the store: module -> (users trained, of them expiring); requests by state."""

    modules: Mapping[str, tuple[int, int]]
    requests: Mapping[State, int] = field(default_factory=dict)


class GaugeSource(Protocol):
    def read(self) -> Readings: ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


class StoreGauges:
    """Training coverage per policy module, counted by SQL over the latest completions."""

    def __init__(
        self,
        engine: Engine,
        modules: Mapping[str, timedelta | None],
        renewal_notice: timedelta,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._url = engine.url
        self._sessions = session_factory(engine)
        self._modules = dict(modules)
        self._notice = renewal_notice
        self._now = now

    @classmethod
    def for_policy(cls, engine: Engine, policy: Policy) -> StoreGauges:
        modules = {key: module.valid_for for key, module in policy.modules.items()}
        return cls(engine, modules, policy.settings.renewal_notice)

    def read(self) -> Readings:
        """module -> (users with a valid completion, those of them expiring within the notice),
        and the access requests in each state. `StoreUnavailable` when the database fails."""
        counts = dict.fromkeys(self._modules, (0, 0))
        with store_errors(self._url), self._sessions() as session:
            rows = self._coverage(session) if self._modules else []
            requests = count_by_state(session)
        counts.update({module: (int(trained), int(expiring)) for module, trained, expiring in rows})
        return Readings(counts, requests)

    def _coverage(self, session: Session) -> Sequence[Row[str, int, int]]:
        query = queries.coverage(self._modules, self._notice, self._now())
        return session.execute(query).all()

    def department_sizes(self) -> dict[str | None, int]:
        """Users per department (None: users without one), for `DepartmentLabels`."""
        with store_errors(self._url), self._sessions() as session:
            return queries.department_sizes(session)


class StoreGaugeCollector(Collector):
    """leeway_users_trained, leeway_users_training_expiring and leeway_access_requests,
    re-read at most every `max_age`.

    When the store fails the last values stay (none before the first good read) and
    `on_error` is called; the next attempt waits `max_age` too, so a down database does
    not slow every scrape.
    """

    def __init__(
        self,
        source: GaugeSource,
        on_error: Callable[[], None],
        *,
        max_age: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._on_error = on_error
        self._max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()  # concurrent scrapes make one query, not several
        self._values: Readings | None = None
        self._read_at: float | None = None

    def replace(self, source: GaugeSource) -> None:
        """Read from `source` (a reloaded policy's modules) from the next scrape on."""
        with self._lock:
            self._source = source
            self._read_at = None

    def describe(self) -> Iterable[Metric]:
        return _families(None)

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            if self._read_at is None or self._clock() - self._read_at >= self._max_age:
                self._refresh()
            return _families(self._values)

    def _refresh(self) -> None:
        self._read_at = self._clock()
        try:
            self._values = self._source.read()
        except StoreUnavailable as e:
            self._on_error()
            log.warning("training gauges not refreshed, keeping the last values: %s", e)


def _families(values: Readings | None) -> list[Metric]:
    trained = GaugeMetricFamily(
        "leeway_users_trained", "Users with a valid completion of a module", labels=["module"]
    )
    expiring = GaugeMetricFamily(
        "leeway_users_training_expiring",
        "Users whose valid completion of a module runs out within the renewal notice",
        labels=["module"],
    )
    requests = GaugeMetricFamily(
        "leeway_access_requests", "Staff's requests for a role, by state", labels=["state"]
    )
    if values is not None:
        for module, (count, soon) in sorted(values.modules.items()):
            trained.add_metric([module], count)
            expiring.add_metric([module], soon)
        for state in State:
            requests.add_metric([state.value], values.requests.get(state, 0))
    return [trained, expiring, requests]


class Scraped(Collector):
    """Families built by `collect` at scrape time; `described` names them for the registry."""

    def __init__(
        self, collect: Callable[[], Iterable[Metric]], described: Iterable[Metric]
    ) -> None:
        self._collect = collect
        self._described = list(described)

    def describe(self) -> Iterable[Metric]:
        return self._described

    def collect(self) -> Iterable[Metric]:
        return self._collect()

    @classmethod
    def cache(cls, stats: Callable[[], CacheStats]) -> Scraped:
        return cls(lambda: _cache_families(stats()), _cache_families(None))

    @classmethod
    def queue(cls, depth: Callable[[], int]) -> Scraped:
        return cls(lambda: [_queue_family(depth())], [_queue_family(None)])


class StoreErrors(Collector):
    """leeway_store_errors_total: errors reported here plus the watched caches' failed loads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self._sources: list[Callable[[], int]] = []

    def inc(self) -> None:
        with self._lock:
            self._count += 1

    def add(self, source: Callable[[], int]) -> None:
        self._sources.append(source)

    def describe(self) -> Iterable[Metric]:
        return [_store_errors_family(None)]

    def collect(self) -> Iterable[Metric]:
        return [_store_errors_family(self._count + sum(source() for source in self._sources))]


def _store_errors_family(value: int | None) -> Metric:
    return CounterMetricFamily("leeway_store_errors", "Failed store operations", value=value)


def _cache_families(stats: CacheStats | None) -> list[Metric]:
    docs = {"hits": "fresh answers", "misses": "lookups that needed a load", "loads": "loads"}
    return [
        CounterMetricFamily(
            f"leeway_entitlement_cache_{name}",
            f"Entitlement cache {doc}",
            value=None if stats is None else getattr(stats, name),
        )
        for name, doc in docs.items()
    ]


def _queue_family(depth: int | None) -> Metric:
    return GaugeMetricFamily(
        "leeway_audit_queue_depth", "Audit events waiting to be written", value=depth
    )
