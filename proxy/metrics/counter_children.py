"""A labelled Prometheus counter's children, made once and kept by their label values."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import Counter

if TYPE_CHECKING:
    from collections.abc import Sequence

    from prometheus_client import CollectorRegistry


class CounterChildren:
    """A labelled counter's children by label values: `labels()` costs a lock on every call."""

    def __init__(self, counter: Counter) -> None:
        self._counter = counter
        self._made: dict[tuple[str, ...], Counter] = {}

    @classmethod
    def new(
        cls, registry: CollectorRegistry, name: str, doc: str, labels: Sequence[str]
    ) -> CounterChildren:
        return cls(Counter(name, doc, labels, registry=registry))

    def make(self, *values: str) -> None:
        if values not in self._made:
            self._made[values] = self._counter.labels(*values)

    def inc(self, values: tuple[str, ...], amount: float = 1) -> None:
        child = self._made.get(values)
        if child is None:
            child = self._made[values] = self._counter.labels(*values)
        child.inc(amount)
