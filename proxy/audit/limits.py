"""How much the audit trail holds in memory and how long it waits: one value, tuned together."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TrailLimits:
    """The audit trail's sizes (events) and times (seconds).

    `max_queue` events wait in memory (as many again for the journal); writes go in batches
    of `batch_size`, at least every `flush_interval`; a write still running after
    `hang_after` is taken as hanging on a lost network; retries back off to `retry_max`.
    """

    max_queue: int = 10_000
    batch_size: int = 500
    flush_interval: float = 1.0
    hang_after: float = 2.0
    retry_max: float = 30.0


DEFAULT_LIMITS = TrailLimits()
