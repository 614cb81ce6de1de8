"""One worker position: each worker's own journal, and the pipes a slot still holds."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from proxy.fleet.slot import Slot, worker_journal


def test_each_worker_has_its_own_journal_beside_the_configured_one() -> None:
    journal = Path("/var/lib/leeway/leeway-audit.journal")
    assert worker_journal(journal, 0) == Path("/var/lib/leeway/leeway-audit.0.journal")
    assert worker_journal(journal, 3) == Path("/var/lib/leeway/leeway-audit.3.journal")


def test_a_closed_pipe_leaves_the_slot_and_the_other_stays() -> None:
    events, events_far = multiprocessing.Pipe()
    metrics, metrics_far = multiprocessing.Pipe(duplex=False)
    slot = Slot(0, events=events, metrics=metrics)
    assert slot.connections() == [events, metrics]
    slot.close(metrics)
    assert metrics.closed
    assert (slot.events, slot.metrics) == (events, None)
    assert slot.connections() == [events]
    slot.close(events)
    assert events.closed
    assert slot.connections() == []
    for far in (events_far, metrics_far):
        far.close()
