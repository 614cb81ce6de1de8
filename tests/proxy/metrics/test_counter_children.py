"""A labelled counter's children: made at 0 on demand, counted by their label values."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from proxy.metrics.counter_children import CounterChildren


def value(registry: CollectorRegistry, **labels: str) -> float | None:
    return registry.get_sample_value("leeway_things_total", labels)


def test_a_made_child_is_a_series_at_zero() -> None:
    registry = CollectorRegistry()
    things = CounterChildren.new(registry, "leeway_things", "Things", ("kind",))
    assert value(registry, kind="a") is None
    things.make("a")
    things.make("a")  # making it again keeps its count
    assert value(registry, kind="a") == 0.0


def test_inc_counts_made_and_unmade_children_by_their_values() -> None:
    registry = CollectorRegistry()
    things = CounterChildren.new(registry, "leeway_things", "Things", ("kind", "side"))
    things.make("a", "up")
    things.inc(("a", "up"))
    things.inc(("a", "up"), 2.5)
    things.inc(("b", "down"))  # not made before: made on its first count
    assert value(registry, kind="a", side="up") == 3.5
    assert value(registry, kind="b", side="down") == 1.0
    assert value(registry, kind="a", side="down") is None
