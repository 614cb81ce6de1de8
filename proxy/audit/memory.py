"""The audit trail's events in memory: repeated decisions counted, then a bounded queue.

Used on the event loop only: O(1) per event, no I/O. The journal takes what overflows.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable

    from proxy.store.access_event import AccessEvent


@dataclass(slots=True)
class _Repeated:
    """A decision seen again within one flush: one event that stands for `count` requests."""

    event: AccessEvent
    count: int = 1


class Repeats:
    """Events by what they say (a key), counted for `interval` seconds: a page load is one row."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._by_key: dict[Hashable, _Repeated] = {}
        self._until = clock() + interval  # when this counting ends

    def __len__(self) -> int:
        """Events counted so far: one per key."""
        return len(self._by_key)

    def count(self, key: Hashable, make: Callable[[], AccessEvent]) -> bool:
        """One more of `key`'s event, made by the first call's `make()`; True if it is new."""
        repeated = self._by_key.get(key)
        if repeated is not None:
            repeated.count += 1
            return False
        if not self._by_key and self.due():
            self._until = self._clock() + self._interval  # after a quiet while
        self._by_key[key] = _Repeated(make())
        return True

    def due(self) -> bool:
        """Whether the counting's interval is over."""
        return self._clock() >= self._until

    def remaining(self) -> float:
        """Seconds until the counting's interval is over (0 once it is)."""
        return max(0.0, self._until - self._clock())

    def release(self) -> list[AccessEvent]:
        """End the counting: its events, in the order first seen, with `requests` final.

        The next counting starts now.
        """
        self._until = self._clock() + self._interval
        repeats, self._by_key = self._by_key, {}
        return [
            r.event if r.count == 1 else replace(r.event, requests=r.count)
            for r in repeats.values()
        ]


class Memory:
    """Events neither committed nor journaled: this flush's repeats, then `queue` (at most
    `max_queue`), then `overflow` (as many again) for the journal; beyond that, `drop`.

    `wake` is called when the writer has work: a full batch, or events that overflowed.
    """

    def __init__(
        self,
        repeats: Repeats,
        *,
        max_queue: int,
        batch_size: int,
        wake: Callable[[], None],
        drop: Callable[[int, str], None],
    ) -> None:
        self.repeats = repeats
        self.queue: deque[AccessEvent] = deque()
        self.overflow: list[AccessEvent] = []
        self._max_queue, self._batch_size = max_queue, batch_size
        self._wake, self._drop = wake, drop

    def __len__(self) -> int:
        return len(self.repeats) + len(self.queue) + len(self.overflow)

    def submit(self, event: AccessEvent) -> None:
        """Queue `event` after the repeats counted so far: stored in the order they happened."""
        self.release()
        self._enqueue(event)

    def count(self, key: Hashable, make: Callable[[], AccessEvent]) -> None:
        """Count one more of `key`'s event (see `Repeats.count`)."""
        if self.repeats.count(key, make) and len(self.repeats) == self._batch_size:
            self._wake()

    def counting_done(self) -> bool:
        """Whether the repeats are due for release: their interval is over, or a batch is full."""
        return self.repeats.due() or len(self.repeats) >= self._batch_size

    def release(self) -> None:
        """End the flush's counting: its events join the queue, their counts final."""
        for event in self.repeats.release():
            self._enqueue(event)

    def batch(self) -> list[AccessEvent]:
        """Up to `batch_size` events from the front of the queue, for one write."""
        count = min(len(self.queue), self._batch_size)
        return [self.queue.popleft() for _ in range(count)]

    def put_back(self, events: list[AccessEvent]) -> None:
        """Return `events` (a failed write's, or a failed journaling's) to the queue's front."""
        self.queue.extendleft(reversed(events))

    def take_overflow(self) -> list[AccessEvent]:
        """The events that overflowed, for the journal: none are left here."""
        events, self.overflow = self.overflow, []
        return events

    def _enqueue(self, event: AccessEvent) -> None:
        if len(self.queue) < self._max_queue:
            self.queue.append(event)
            if len(self.queue) == self._batch_size:
                self._wake()
        elif len(self.overflow) < self._max_queue:
            self.overflow.append(event)
            self._wake()
        else:  # the journal has not kept up with `max_queue` events: the disk is failing
            self._drop(1, "the memory queue and its overflow are full")
