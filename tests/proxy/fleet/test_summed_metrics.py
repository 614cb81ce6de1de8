"""Adding up the workers' metrics: what the supervisor of `leeway run --workers N` serves."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from proxy.fleet.summed_metrics import SummedCollector, Totals


def exposition(
    requests: float,
    *,
    depth: float = 0,
    trained: float = 0,
    seconds: tuple[float, ...] = (),
    created: float | None = None,
) -> bytes:
    """One worker's /metrics text, with a counter, gauges of both kinds and a histogram."""
    registry = CollectorRegistry()
    counter = Counter("leeway_requests", "Requests by category", ["category"], registry=registry)
    counter.labels("social").inc(requests)
    if created is not None:
        counter.labels("social")._created = created
    Gauge("leeway_audit_queue_depth", "Audit events waiting", registry=registry).set(depth)
    shared = Gauge("leeway_users_trained", "Trained users", ["module"], registry=registry)
    shared.labels("basics").set(trained)
    histogram = Histogram(
        "leeway_decision_seconds", "Time to decide", buckets=(0.001, 0.01), registry=registry
    )
    for value in seconds:
        histogram.observe(value)
    return generate_latest(registry)


def value(totals: Totals, sample: str, **labels: str) -> float | None:
    registry = CollectorRegistry()
    registry.register(SummedCollector(lambda: totals))
    return registry.get_sample_value(sample, labels)


def test_counters_gauges_of_each_process_and_histograms_are_summed() -> None:
    totals = Totals.of(
        [
            exposition(3, depth=2, seconds=(0.0005, 0.005)),
            exposition(4, depth=5, seconds=(0.0005,)),
        ]
    )

    assert value(totals, "leeway_requests_total", category="social") == 7
    assert value(totals, "leeway_audit_queue_depth") == 7
    assert value(totals, "leeway_decision_seconds_bucket", le="0.001") == 2
    assert value(totals, "leeway_decision_seconds_bucket", le="0.01") == 3
    assert value(totals, "leeway_decision_seconds_count") == 3


def test_gauges_read_from_the_shared_store_are_counted_once() -> None:
    totals = Totals.of([exposition(1, trained=40), exposition(1, trained=40)])

    assert value(totals, "leeway_users_trained", module="basics") == 40


def test_a_series_keeps_its_earliest_creation_time() -> None:
    totals = Totals.of([exposition(1, created=2000.0), exposition(1, created=1000.0)])

    assert value(totals, "leeway_requests_created", category="social") == 1000.0


def test_a_replaced_workers_counts_stay_in_the_sum_but_not_its_gauges() -> None:
    retired = Totals()
    retired.add(exposition(10, depth=9, seconds=(0.005,)), monotonic_only=True)
    live = Totals.of([exposition(2, depth=1)])

    merged = live.merged(retired)

    assert value(merged, "leeway_requests_total", category="social") == 12
    assert value(merged, "leeway_decision_seconds_count") == 1
    assert value(merged, "leeway_audit_queue_depth") == 1


def test_the_sum_is_valid_exposition_text() -> None:
    registry = CollectorRegistry()
    registry.register(SummedCollector(lambda: Totals.of([exposition(1), exposition(2)])))

    text = generate_latest(registry).decode()

    assert 'leeway_requests_total{category="social"} 3.0' in text
    assert text.count("# TYPE leeway_requests_total counter") == 1
