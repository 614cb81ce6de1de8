"""Memory: repeated decisions are one event per key and interval, the queue is bounded, the
overflow goes to the journal, and beyond it events are dropped (and said to be)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from proxy.audit.memory import Memory, Repeats
from tests.audit_events import access_event

if TYPE_CHECKING:
    from collections.abc import Callable

    from proxy.store.access_event import AccessEvent

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def event(n: int = 0) -> AccessEvent:
    return access_event(NOW + timedelta(seconds=n), username=f"user{n}")


def maker(n: int, made: list[AccessEvent]) -> Callable[[], AccessEvent]:
    def make() -> AccessEvent:
        made.append(event(n))
        return made[-1]

    return make


def test_repeats_are_one_event_per_key_with_their_count() -> None:
    made: list[AccessEvent] = []
    repeats = Repeats(1.0, Clock())
    assert repeats.count("wanda", maker(0, made))
    assert not repeats.count("wanda", maker(0, made)), "a repeat is not a new event"
    assert repeats.count("xavier", maker(1, made))
    repeats.count("wanda", maker(0, made))
    assert len(repeats) == 2 and len(made) == 2, "make() runs once per key"

    released = repeats.release()

    assert [(e.event_id, e.requests) for e in released] == [
        (made[0].event_id, 3),
        (made[1].event_id, 1),
    ]
    assert len(repeats) == 0


def test_the_counting_ends_after_its_interval_which_restarts_after_a_quiet_while() -> None:
    clock = Clock()
    repeats = Repeats(1.0, clock)
    assert not repeats.due() and repeats.remaining() == 1.0
    clock.t += 1.0
    assert repeats.due() and repeats.remaining() == 0

    repeats.count("wanda", maker(0, []))  # the first after a quiet while starts a new interval
    assert not repeats.due() and repeats.remaining() == 1.0
    clock.t += 0.5
    repeats.release()
    assert repeats.remaining() == 1.0, "a release starts the next interval"


def test_memory_queues_in_order_wakes_on_a_full_batch_and_overflows() -> None:
    wakes: list[None] = []
    drops: list[tuple[int, str]] = []
    memory = Memory(
        Repeats(1.0, Clock()),
        max_queue=3,
        batch_size=2,
        wake=lambda: wakes.append(None),
        drop=lambda n, why: drops.append((n, why)),
    )
    memory.count("wanda", maker(0, []))
    memory.submit(event(1))
    assert [e.username for e in memory.queue] == ["user0", "user1"], "the counted come first"
    assert len(wakes) == 1, "a full batch wakes the writer"

    for n in range(2, 7):
        memory.submit(event(n))
    assert len(memory.queue) == 3 and len(memory.overflow) == 3 and len(memory) == 6
    assert drops == [(1, "the memory queue and its overflow are full")]
    assert [e.username for e in memory.take_overflow()] == ["user3", "user4", "user5"]
    assert memory.overflow == []

    batch = memory.batch()
    assert [e.username for e in batch] == ["user0", "user1"]
    memory.put_back(batch)
    assert [e.username for e in memory.queue] == ["user0", "user1", "user2"]


def test_counting_is_done_after_its_interval_or_with_a_full_batch() -> None:
    clock = Clock()
    memory = Memory(
        Repeats(1.0, clock), max_queue=9, batch_size=2, wake=lambda: None, drop=lambda n, why: None
    )
    memory.count("wanda", maker(0, []))
    assert not memory.counting_done()
    memory.count("xavier", maker(1, []))
    assert memory.counting_done(), "a batch of repeats is released at once"
    memory.release()
    memory.count("yves", maker(2, []))
    clock.t += 1.0
    assert memory.counting_done()
