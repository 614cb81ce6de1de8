"""`--follow`: sync every period, back off while the LRS or the store is down, stop on a signal.

Metrics (served on `--metrics-port` when given) carry no personal data: reasons and kinds
are closed sets, and no actor, activity or statement id is ever a label.
"""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from proxy.backoff import Backoff
from proxy.lrs.client import LrsUnavailable
from proxy.lrs.statements import SKIP_REASONS
from proxy.store.db import StoreUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType

    from proxy.lrs.sync import Syncer, Tally

LAG_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 900, 3600, 4 * 3600, 86400)
ERROR_KINDS = ("lrs", "store")


class SyncMetrics:
    """The follower's counters, in a registry of their own."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.read = Counter(
            "leeway_lrs_statements_read", "Statements read from the LRS.", registry=registry
        )
        self.applied = Counter(
            "leeway_lrs_statements_applied",
            "Statements applied: completions recorded, voidings handled.",
            ["kind"],
            registry=registry,
        )
        self.skipped = Counter(
            "leeway_lrs_statements_skipped",
            "Statements not applied, by reason (`already`: handled before).",
            ["reason"],
            registry=registry,
        )
        self.lag = Histogram(
            "leeway_lrs_lag_seconds",
            "From a statement's `stored` time in the LRS to its application here.",
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self.errors = Counter(
            "leeway_lrs_errors", "Failed syncs, by what failed.", ["kind"], registry=registry
        )
        self.last_success = Gauge(
            "leeway_lrs_last_success_timestamp_seconds",
            "When a sync last read the LRS to the end.",
            registry=registry,
        )
        for kind in ("completion", "voiding"):
            self.applied.labels(kind)
        for reason in (*SKIP_REASONS, "already"):
            self.skipped.labels(reason)
        for kind in ERROR_KINDS:
            self.errors.labels(kind)

    def page(self, tally: Tally) -> None:
        self.read.inc(tally.read)
        self.applied.labels("completion").inc(tally.applied)
        self.applied.labels("voiding").inc(tally.voided)
        self.skipped.labels("already").inc(tally.already)
        for reason, count in tally.skipped.items():
            self.skipped.labels(reason).inc(count)
        for lag in tally.lags:
            self.lag.observe(max(0.0, lag))


def serve_metrics(host: str, port: int) -> SyncMetrics:
    registry = CollectorRegistry()
    metrics = SyncMetrics(registry)
    start_http_server(port, addr=host, registry=registry)
    return metrics


class Follower:
    """Runs `syncer` every `every` seconds until a signal asks it to stop."""

    def __init__(
        self,
        syncer: Syncer,
        every: float,
        metrics: SyncMetrics | None,
        say: Callable[[str], None],
    ) -> None:
        self.syncer = syncer
        self.every = every
        self.metrics = metrics
        self.say = say
        self.backoff = Backoff(1.0, max(every, 1.0) * 4)

    @property
    def stop(self) -> threading.Event:
        return self.syncer.stop

    def run(self) -> None:
        """Sync until stopped; LRS refusals (bad credentials) propagate and end it."""
        while not self.stop.is_set():
            wait = self._once()
            self.stop.wait(wait)

    def _once(self) -> float:
        """One sync; the seconds to wait before the next."""
        on_page = self.metrics.page if self.metrics is not None else None
        try:
            tally = self.syncer.run(on_page=on_page)
        except (LrsUnavailable, StoreUnavailable) as e:
            kind = "lrs" if isinstance(e, LrsUnavailable) else "store"
            if self.metrics is not None:
                self.metrics.errors.labels(kind).inc()
            delay = self.backoff.failed()
            self.say(f"{e}; trying again in {delay:.0f} s")
            return delay
        self.backoff.succeeded()
        if self.metrics is not None:
            self.metrics.last_success.set_to_current_time()
        if tally.read > tally.already:
            for line in tally.describe(self.syncer.client.url):
                self.say(line)
        return self.every

    def handle_signals(self) -> None:
        """SIGINT and SIGTERM end the loop after the page being applied is committed."""

        def stop(signum: int, _frame: FrameType | None) -> None:
            self.say(f"{signal.Signals(signum).name}: stopping after the current page")
            self.stop.set()

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
