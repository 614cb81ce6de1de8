"""The metrics of several worker processes as one proxy's: what Prometheus scrapes under --workers.

Each worker sends its own exposition; the supervisor adds them up series by series.
Counters, histograms and gauges of per-process state (cache entries, queue depth) are
summed. Gauges that describe the shared database or policy would be counted once per
worker, so they take the largest value instead; `_created` timestamps take the earliest.
A worker that is replaced leaves its last counts behind, so that counters never go down.

Why not prometheus_client's multiprocess mode (checked with 0.26.0, issue 10): it keeps a
killed worker's counters and histograms (its files stay), a `livesum` gauge suits the
per-process ones, and the store gauges could be collected in the supervisor alone. But:
- every inc() writes to an mmap file, on the event loop. Measured (CPU time, best of 7):
  a counter inc 0.55 -> 1.47 µs, a histogram observe 1.2 -> 3.1 µs, an allowed request's
  metrics (`Metrics.decided`, `request`, two `transferred`) 5.8 -> 11.4 µs: +5.6 µs per
  request. A worker's push (member.py) costs 2.4 ms of CPU a second (the default policy's 204
  series; 6.4 ms with 8 categories), in its own thread whatever the load: multiprocess
  mode costs more above ~430 requests a second per worker.
- it exports no custom collector and supports neither `Gauge.set_function` nor
  `remove()`: the entitlement cache counters, leeway_store_errors_total and
  leeway_audit_queue_depth would be lost or need reworking (mmap counters on the cache
  path, a thread setting the queue depth), and leeway_policy_info would keep every
  revision ever loaded, of dead workers too, unless the supervisor loaded the policy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

# Gauges every worker reads from the same place: the policy in force and the store.
SHARED_GAUGES = frozenset(
    {"leeway_policy_info", "leeway_users_trained", "leeway_users_training_expiring"}
)
MONOTONIC = frozenset({"counter", "histogram", "summary"})


class Series(NamedTuple):
    sample: str
    labels: tuple[tuple[str, str], ...]


class Family(NamedTuple):
    name: str
    documentation: str
    type: str


class Totals:
    """Series values added up from any number of expositions, in their first-seen order."""

    def __init__(self) -> None:
        self.families: dict[str, Family] = {}
        self.values: dict[str, dict[Series, float]] = {}

    @classmethod
    def of(cls, expositions: Iterable[bytes]) -> Totals:
        totals = cls()
        for text in expositions:
            totals.add(text)
        return totals

    def add(self, text: bytes, *, monotonic_only: bool = False) -> None:
        for metric in text_string_to_metric_families(text.decode()):
            if monotonic_only and metric.type not in MONOTONIC:
                continue
            family = Family(metric.name, metric.documentation, metric.type)
            for sample in metric.samples:
                series = Series(sample.name, tuple(sorted(sample.labels.items())))
                self._combine(family, series, sample.value)

    def merged(self, retired: Totals) -> Totals:
        """These totals plus the counts left by replaced workers."""
        out = Totals()
        for source in (self, retired):
            for name, family in source.families.items():
                for series, value in source.values[name].items():
                    out._combine(family, series, value)
        return out

    def _combine(self, family: Family, series: Series, value: float) -> None:
        family = self.families.setdefault(family.name, family)
        values = self.values.setdefault(family.name, {})
        old = values.get(series)
        values[series] = value if old is None else _combiner(family)(old, value)

    def metrics(self) -> Iterator[Metric]:
        for name, family in self.families.items():
            metric = Metric(family.name, family.documentation, family.type)
            for series, value in self.values[name].items():
                metric.add_sample(series.sample, dict(series.labels), value)
            yield metric


def _combiner(family: Family) -> Callable[[float, float], float]:
    if family.name.endswith("_created"):
        return min
    if family.type == "gauge" and family.name in SHARED_GAUGES:
        return max
    return _add


def _add(a: float, b: float) -> float:
    return a + b


class SummedCollector(Collector):
    """A prometheus_client collector yielding whatever `read()` totals at scrape time."""

    def __init__(self, read: Callable[[], Totals]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        yield from self._read().metrics()
