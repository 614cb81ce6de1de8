"""Record a Continue click: honoured in memory at once, written to the store in a worker thread.

While the store is down the clicks wait in a small bounded list and are written later.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import exc

from policy.subject import Acknowledgement
from proxy.backoff import Backoff
from proxy.store.acks import record_acknowledgement
from proxy.store.db import StoreUnavailable, session_factory, store_errors

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import datetime, timedelta

    from sqlalchemy.engine import Engine

    from proxy.runtime.entitlement_cache import EntitlementCache

log = logging.getLogger("leeway.acknowledge")

MAX_PENDING = 1000
RETRY_AFTER = 5.0  # seconds without a write after the store failed: a click must not wait


@dataclass(frozen=True, slots=True, eq=False)  # identity: two equal clicks are two rows
class _Pending:
    username: str
    ack: Acknowledgement
    client_address: str | None


class AcknowledgementWriter:
    """Writes acknowledgements for the event loop; `record` and `flush` never raise."""

    def __init__(
        self,
        engine: Engine,
        cache: EntitlementCache,
        *,
        max_pending: int = MAX_PENDING,
        retry_after: float = RETRY_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = engine.url
        self._sessions = session_factory(engine)
        self._cache = cache
        self._max_pending = max_pending
        self._pending: list[_Pending] = []
        self._backoff = Backoff(retry_after, clock=clock)
        self._lock = asyncio.Lock()  # one writer at a time: no pending row written twice

    @property
    def pending(self) -> int:
        """How many acknowledgements wait to be written."""
        return len(self._pending)

    async def record(
        self,
        username: str,
        category: str,
        now: datetime,
        ttl: timedelta,
        client_address: str | None,
    ) -> Acknowledgement:
        """Acknowledge `category` for `username` from `now` for `ttl`; stored if the store works.

        A naive `now` is a bug in the caller and raises `ValueError` before anything changes.
        """
        if now.utcoffset() is None:
            raise ValueError(f"naive datetime {now.isoformat()} given as now: use UTC")
        ack = Acknowledgement(category=category, acknowledged_at=now, expires_at=now + ttl)
        self._cache.add_acknowledgement(username, ack)
        self._enqueue(_Pending(username, ack, client_address))
        if self._backoff.ready():
            await self.flush()
        return ack

    async def flush(self) -> int:
        """Write every pending acknowledgement now; returns how many are still pending."""
        async with self._lock:
            batch = list(self._pending)
            if not batch:
                return 0
            done, error = await asyncio.to_thread(self._write, batch)
            written = {id(p) for p in done}
            self._pending = [p for p in self._pending if id(p) not in written]
            if error is None:
                self._backoff.succeeded()
            else:
                log.warning("%d acknowledgements wait for the store: %s", self.pending, error)
                self._backoff.failed()
            return self.pending

    def _enqueue(self, pending: _Pending) -> None:
        if len(self._pending) >= self._max_pending:
            dropped = self._pending.pop(0)
            log.warning(
                "%d acknowledgements wait for the store: %r by %r will not be stored "
                "(it still counts in memory)",
                len(self._pending) + 1,
                dropped.ack.category,
                dropped.username,
            )
        self._pending.append(pending)

    def _write(self, batch: Sequence[_Pending]) -> tuple[list[_Pending], StoreUnavailable | None]:
        """In a worker thread: write `batch`, a transaction each; the ones done, and the error.

        Stops at the first `StoreUnavailable`; a row the database refuses is logged and
        dropped, since writing it again would fail again.
        """
        done: list[_Pending] = []
        for pending in batch:
            try:
                self._write_one(pending)
            except StoreUnavailable as e:
                return done, e
            except exc.SQLAlchemyError:
                log.exception(
                    "the store refused acknowledgement %r by %r",
                    pending.ack.category,
                    pending.username,
                )
            done.append(pending)
        return done, None

    def _write_one(self, pending: _Pending) -> None:
        with store_errors(self._url), self._sessions.begin() as session:
            record_acknowledgement(
                session,
                username=pending.username,
                category=pending.ack.category,
                acknowledged_at=pending.ack.acknowledged_at,
                expires_at=pending.ack.expires_at,
                client_address=pending.client_address,
            )
