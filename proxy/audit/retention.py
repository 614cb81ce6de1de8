"""Retention of access events: prune old events and pseudonymise old usernames, once a day;
with the events go the acknowledgements that ended and the access requests decided before.

Every instance may run it: both steps are idempotent, so instances racing do no harm.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from addons.tasks import start_task
from proxy.backoff import Backoff
from proxy.store.db import StoreUnavailable, session_factory, store_errors
from proxy.store.events import prune, pseudonymise
from proxy.store.keys import signing_key
from proxy.store.records_retention import RecordsPruned, prune_records

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import timedelta

    from sqlalchemy.engine import Engine

log = logging.getLogger("leeway.audit")

# The key behind pseudonyms lives with the other shared secrets, so that every instance
# and `leeway audit pseudonymise` give a user the same pseudonym.
PSEUDONYM_KEY = "audit-pseudonym"
DAY = 86_400.0
RETRY_AFTER = 600.0  # seconds: a store that was down is tried again well before tomorrow


@dataclass(frozen=True, slots=True)
class RetentionResult:
    pruned: int
    pseudonymised: int
    records: RecordsPruned = field(default_factory=RecordsPruned)  # acks and requests


def utc_now() -> datetime:
    return datetime.now(UTC)


def apply_retention(
    engine: Engine,
    *,
    retention: timedelta | None,
    pseudonymise_after: timedelta | None,
    now: datetime,
) -> RetentionResult:
    """Delete events (and the other records of `prune_records`) older than `retention`
    and pseudonymise events older than the other.

    None skips a step. One transaction; `StoreUnavailable` if the database is down.
    """
    key = signing_key(engine, PSEUDONYM_KEY) if pseudonymise_after is not None else None
    with store_errors(engine.url), session_factory(engine).begin() as session:
        pruned, records = 0, RecordsPruned()
        if retention is not None:
            pruned = prune(session, older_than=retention, now=now)
            records = prune_records(session, older_than=retention, now=now)
        changed = 0
        if pseudonymise_after is not None and key is not None:
            changed = pseudonymise(session, older_than=pseudonymise_after, key=key, now=now)
    return RetentionResult(pruned, changed, records)


class Retention:
    """Applies the retention settings at start and then every `interval` seconds.

    Started in `running` and stopped in `done`, like a mitmproxy addon; the database work
    runs in a worker thread.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        retention: timedelta | None,
        pseudonymise_after: timedelta | None,
        interval: float = DAY,
        retry_after: float = RETRY_AFTER,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self.engine = engine
        self.retention = retention
        self.pseudonymise_after = pseudonymise_after
        self.interval = interval
        self.now = now
        self._backoff = Backoff(retry_after)
        self._task: asyncio.Task[None] | None = None

    def running(self) -> None:
        if self.retention is not None or self.pseudonymise_after is not None:
            self._task = start_task(self._repeat(), name="leeway-retention")

    def done(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def apply(self) -> RetentionResult | None:
        """Apply the settings once; None (and a warning) if the store is down."""
        try:
            result = await asyncio.to_thread(
                apply_retention,
                self.engine,
                retention=self.retention,
                pseudonymise_after=self.pseudonymise_after,
                now=self.now(),
            )
        except StoreUnavailable as e:
            delay = self._backoff.failed()
            log.warning("audit retention not applied, retrying in %.0fs: %s", delay, e)
            return None
        self._backoff.succeeded()
        log.info(
            "audit retention: %d events pruned, %d pseudonymised;"
            " %d ended acknowledgements and %d decided access requests pruned",
            result.pruned,
            result.pseudonymised,
            result.records.acknowledgements,
            result.records.requests,
        )
        return result

    async def _repeat(self) -> None:
        while True:
            result = await self.apply()
            await asyncio.sleep(self.interval if result is not None else self._backoff.wait())
