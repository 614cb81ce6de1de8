"""Leeway's Prometheus metrics: counters the addons move, and values read at scrape time.

Everything is made against a registry passed in; label values come from closed sets only.
"""

from __future__ import annotations

import errno
import functools
import threading
from itertools import product
from typing import TYPE_CHECKING, Literal, NamedTuple, get_args

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from policy.decision import Action, Reason
from policy.destinations import Refusal
from proxy.metrics.counter_children import CounterChildren
from proxy.metrics.store_gauges import Scraped, StoreErrors, StoreGaugeCollector
from proxy.privacy import OTHER, fold_departments

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from wsgiref.simple_server import WSGIServer

    from prometheus_client import CollectorRegistry

    from policy.decision import Decision
    from proxy.metrics.store_gauges import CacheStats, GaugeSource

# Uncategorised traffic is counted too, as the single category "none": its share of all
# decisions and its invalid-host blocks are worth seeing, and it costs one series.
UNCATEGORIZED = "none"
Direction = Literal["up", "down"]
DIRECTIONS: tuple[Direction, ...] = ("up", "down")
# Why a tunnel to a categorised site was closed: bytes neither TLS nor HTTP, a switch to a
# protocol other than WebSocket, a connection from a tunnel blocked for reading and writing.
TunnelRefusal = Literal["raw", "upgrade", "blocked", "server_name"]
TUNNEL_REFUSALS: tuple[TunnelRefusal, ...] = get_args(TunnelRefusal)
# From a cached decision (a few µs) to one that waited for an entitlement load (tens of ms).
DECISION_BUCKETS = (
    *(1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4),
    *(1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2),
)


class DepartmentLabels:
    """Department label values, a closed set fixed when built: departments fold into `other`
    as in reports (`fold_departments`); one not in `sizes` (None: no department) is `other`."""

    def __init__(self, sizes: Mapping[str | None, int], k: int = 5) -> None:
        if k < 1:
            raise ValueError(f"department labels: k must be at least 1, got {k}")
        self.k = k
        folded = fold_departments(sizes, k).values()
        self._named = frozenset(group for group in folded if group != OTHER)

    @property
    def values(self) -> tuple[str, ...]:
        return (*sorted(self._named), OTHER)

    def label(self, department: str | None) -> str:
        if department is not None and department in self._named:
            return department
        return OTHER


class Metrics:
    """Every Leeway metric, made against the registry passed in (never the global one)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        categories: Iterable[str],
        departments: DepartmentLabels | None = None,
    ) -> None:
        self._registry = registry
        self._categories: set[str] = set()
        self._departments = departments
        labels = ("category", "action", "reason", *(("department",) if departments else ()))
        new = functools.partial(CounterChildren.new, registry)
        self._decisions = new("leeway_decisions", "Decisions by category, action, reason", labels)
        self._acks = new("leeway_acknowledgements", "Continue clicks on warnings", ("category",))
        self._requests = new("leeway_requests", "Requests by category", ("category",))
        self._bytes = new("leeway_bytes", "Bytes to and from sites", ("category", "direction"))
        self._tunnels = new(
            "leeway_tunnels_refused",
            "Tunnels to categorised sites closed before reaching them",
            ("category", "reason"),
        )
        self._seconds = Histogram(
            "leeway_decision_seconds", "Time to decide", buckets=DECISION_BUCKETS, registry=registry
        )
        self._policy_info = Gauge(
            "leeway_policy_info", "The policy revision in force", ("revision",), registry=registry
        )
        self._revision: str | None = None
        self._dropped = Counter(
            "leeway_audit_events_dropped", "Audit events lost (must stay 0)", registry=registry
        )
        self._addon_errors = new(
            "leeway_addon_errors", "Exceptions in Leeway's addon hooks (must stay 0)", ("hook",)
        )
        self._refused = new(
            "leeway_destinations_refused", "Destinations refused, by reason", ("reason",)
        )
        for refusal in Refusal:
            self._refused.make(refusal.value)
        self._store_errors = StoreErrors()
        registry.register(self._store_errors)
        self._store: StoreGaugeCollector | None = None
        self.add_categories((UNCATEGORIZED, *categories))

    def add_categories(self, names: Iterable[str]) -> None:
        """Let categories in (a reloaded policy's), their series made at 0."""
        for category in names:
            if category in self._categories:
                continue
            self._categories.add(category)
            self._acks.make(category)
            self._requests.make(category)
            for direction in DIRECTIONS:
                self._bytes.make(category, direction)
            for refusal in TUNNEL_REFUSALS:
                self._tunnels.make(category, refusal)
            self._make_decisions((category,), self._department_values())

    def use_departments(self, departments: DepartmentLabels) -> None:
        """Switch to a rebuilt department set (only when built with one); new series start at 0."""
        if self._departments is None:
            raise ValueError("department labels are off: build Metrics with departments=...")
        self._departments = departments
        self._make_decisions(self._categories, departments.values)

    def decided(self, decision: Decision, seconds: float, department: str | None = None) -> None:
        category = self._category(decision.category)
        if self._departments is None:
            key: tuple[str, ...] = (category, decision.action.value, decision.reason.value)
        else:
            department = self._departments.label(department)
            key = (category, decision.action.value, decision.reason.value, department)
        self._decisions.inc(key)
        self._seconds.observe(seconds)

    def acknowledged(self, category: str) -> None:
        self._acks.inc((self._category(category),))

    def request(self, category: str | None) -> None:
        self._requests.inc((self._category(category),))

    def transferred(self, category: str | None, direction: Direction, size: int) -> None:
        if direction not in DIRECTIONS:
            raise ValueError(f"direction {direction!r}: expected one of {', '.join(DIRECTIONS)}")
        if size > 0:
            self._bytes.inc((self._category(category), direction), size)

    def tunnel_refused(self, category: str | None, reason: TunnelRefusal) -> None:
        if reason not in TUNNEL_REFUSALS:
            raise ValueError(
                f"tunnel refusal {reason!r}: expected one of {', '.join(TUNNEL_REFUSALS)}"
            )
        self._tunnels.inc((self._category(category), reason))

    def addon_hooks(self, names: Iterable[str]) -> None:
        """Let the hooks Leeway's addons handle in (mitmproxy's names), at 0."""
        for name in names:
            self._addon_errors.make(name)

    def addon_failed(self, hook: str) -> None:
        self._addon_errors.inc((hook,))

    def destination_refused(self, reason: Refusal) -> None:
        self._refused.inc((reason.value,))

    def store_error(self) -> None:
        self._store_errors.inc()

    def policy_loaded(self, revision: str) -> None:
        """Mark `revision` as the one in force; the old revision's series goes."""
        self._policy_info.labels(revision).set(1)
        old, self._revision = self._revision, revision
        if old is not None and old != revision:
            self._policy_info.remove(old)

    def audit_dropped(self, n: int = 1) -> None:
        self._dropped.inc(n)

    def watch_cache(self, stats: Callable[[], CacheStats]) -> None:
        """Expose the entitlement cache's counters; its failed loads count as store errors."""
        self._registry.register(Scraped.cache(stats))
        self._store_errors.add(lambda: stats().store_errors)

    def watch_audit_queue(self, depth: Callable[[], int]) -> None:
        self._registry.register(Scraped.queue(depth))

    def watch_store(self, source: GaugeSource, *, max_age: float = 30.0) -> None:
        """Training coverage from the store at scrape time; called again, replaces the source."""
        if self._store is not None:
            self._store.replace(source)
            return
        self._store = StoreGaugeCollector(source, self.store_error, max_age=max_age)
        self._registry.register(self._store)

    def _category(self, name: str | None) -> str:
        if name is None:
            return UNCATEGORIZED
        return name if name in self._categories else OTHER

    def _department_values(self) -> tuple[str | None, ...]:
        return (None,) if self._departments is None else self._departments.values

    def _make_decisions(self, categories: Iterable[str], departments: Sequence[str | None]) -> None:
        for category, action, reason, department in product(
            list(categories), Action, Reason, departments
        ):
            extra = () if department is None else (department,)
            self._decisions.make(category, action.value, reason.value, *extra)


class MetricsServer(NamedTuple):
    """The `/metrics` HTTP server and its thread; `close()` stops both."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def close(self, timeout: float = 5.0) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout)


def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> MetricsServer:
    """Serve `registry` at http://host:port/metrics in a daemon thread; OSError if it cannot."""
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            reason = "the port is already in use (choose another metrics port)"
        else:
            reason = e.strerror or str(e)
        raise OSError(e.errno, f"cannot serve metrics on {host}:{port}: {reason}") from e
    return MetricsServer(server, thread)
