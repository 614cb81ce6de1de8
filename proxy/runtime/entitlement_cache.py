"""Per-user entitlements for the event loop: fresh entries answer at once, misses load in a thread.

One load per user at a time; when the store fails, cached users keep their last entitlements
and the others get the fail mode's subject (no training, no roles), marked `degraded`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from policy.subject import Subject
from proxy.backoff import Backoff
from proxy.store.db import StoreUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable

    from policy.subject import Acknowledgement, EntitlementSource

log = logging.getLogger("leeway.entitlements")

# Seconds without a load after one failed, however long the time limit: a fleet that relies
# on notifications sets a minute, and a failure the change listener does not see (too many
# clients, one refused connection) must not keep everybody in the fail mode that long.
RETRY_AFTER = 5.0


@dataclass(slots=True)
class CacheStats:
    """Counters for metrics: fresh answers, lookups that needed a load, loads, failed loads."""

    hits: int = 0
    misses: int = 0
    loads: int = 0
    store_errors: int = 0


@dataclass(frozen=True, slots=True)
class _Entry:
    subject: Subject
    loaded_at: float  # clock() of the load that read it from the store
    invalidated: bool = False


class EntitlementCache:
    """Subjects by username, in front of an `EntitlementSource`. Use it from the loop's thread.

    After a failed load no load is tried for `retry_after` seconds (default: `ttl`, at most
    RETRY_AFTER), or until an invalidation: while the store is down, lookups answer at once
    instead of each waiting for a timeout.
    """

    def __init__(
        self,
        source: EntitlementSource,
        *,
        ttl: float = 5.0,
        max_entries: int = 50_000,
        max_stale: float = 300.0,
        retry_after: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._source = source
        self._ttl = ttl
        self._max_entries = max_entries
        self._max_stale = max_stale
        self._clock = clock
        self._now = now
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._loading: dict[str, asyncio.Task[Subject]] = {}
        self._recent = _RecentAcknowledgements(max_entries)
        retry_after = min(ttl, RETRY_AFTER) if retry_after is None else retry_after
        self._backoff = Backoff(retry_after, clock=clock)  # between loads while the store fails
        self._warned: set[tuple[str, str]] = set()  # (user, message) logged in this outage
        self.stats = CacheStats()

    def __len__(self) -> int:
        return len(self._entries)

    def peek(self, username: str) -> Subject | None:
        """The cached subject of `username` if it is fresh (younger than `ttl`), else None."""
        entry = self._entries.get(username)
        if entry is None or entry.invalidated or self._clock() - entry.loaded_at >= self._ttl:
            return None
        self._entries.move_to_end(username)
        self.stats.hits += 1
        return entry.subject

    async def get(self, username: str) -> Subject:
        """The subject of `username`: cached, loaded in a thread, or a fallback (`degraded`
        when it is the fail mode's). Never raises."""
        subject = self.peek(username)
        if subject is not None:
            return subject
        self.stats.misses += 1
        if not self._backoff.ready():
            return self._fallback(username)
        task = self._loading.get(username)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._load(username))
            self._loading[username] = task
            task.add_done_callback(functools.partial(self._forget, username))
        # shield: a waiter's flow being cancelled must not cancel the others' load
        return await asyncio.shield(task)

    def invalidate(self, username: str | None = None) -> None:
        """Reload `username` (or everybody) on the next lookup; kept as a fallback meanwhile."""
        names = list(self._entries) if username is None else [username]
        for name in names:
            entry = self._entries.get(name)
            if entry is not None:
                self._entries[name] = replace(entry, invalidated=True)
        # The database announced the change, so it answers again: end a back-off now, or
        # a failed load a moment before would keep the change (and the fail mode) out
        # for up to `retry_after`. Still "failing" until a load works: that one logs it.
        self._backoff.retry_now()
        # A load already running may have read the old rows: it is not cached (see `_load`).
        if username is None:
            self._loading.clear()
        else:
            self._loading.pop(username, None)

    def add_acknowledgement(self, username: str, ack: Acknowledgement) -> None:
        """Honour a Continue at once, and keep honouring it across reloads until it expires."""
        self._recent.add(username, ack)
        entry = self._entries.get(username)
        if entry is not None:
            subject = _with_acknowledgements(entry.subject, (ack,))
            self._entries[username] = replace(entry, subject=subject)

    async def _load(self, username: str) -> Subject:
        self.stats.loads += 1
        now = self._now()
        try:
            subject = await asyncio.to_thread(self._source.subject_for, username, now)
        except StoreUnavailable as e:
            self.stats.store_errors += 1
            self._store_failed(e)
            return self._fallback(username)
        except Exception:
            # A bug, or bad data for this user: not an outage, so no back-off for the others.
            self.stats.store_errors += 1
            log.exception("loading the entitlements of %r failed", username)
            return self._fallback(username)
        self._store_recovered()
        subject = self._recent.apply(username, subject, now)
        if self._loading.get(username) is asyncio.current_task():
            self._remember(username, subject)
        return subject

    def _forget(self, username: str, task: asyncio.Task[Subject]) -> None:
        if self._loading.get(username) is task:
            del self._loading[username]

    def _remember(self, username: str, subject: Subject) -> None:
        self._entries[username] = _Entry(subject, self._clock())
        self._entries.move_to_end(username)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def _fallback(self, username: str) -> Subject:
        """While the store fails: the last loaded subject if young enough, else anonymous."""
        entry = self._entries.get(username)
        if entry is not None:
            age = self._clock() - entry.loaded_at
            if age < self._max_stale:
                self._warn_once(username, "serving entitlements of %r cached %.0f s ago", age)
                return entry.subject
        self._warn_once(username, "no usable cached entitlements of %r: no training, no roles")
        anonymous = Subject.anonymous(username, degraded=True)
        return self._recent.apply(username, anonymous, self._now())

    def _warn_once(self, username: str, message: str, *args: object) -> None:
        if (username, message) not in self._warned:
            self._warned.add((username, message))
            log.warning(message, username, *args)

    def _store_failed(self, error: StoreUnavailable) -> None:
        if not self._backoff.failing:
            log.warning("entitlement store unavailable, using cached entitlements: %s", error)
        self._backoff.failed()

    def _store_recovered(self) -> None:
        if self._backoff.failing:
            log.info("entitlement store available again")
        self._backoff.succeeded()
        self._warned.clear()


class _RecentAcknowledgements:
    """Continue clicks made here, laid over loaded subjects until they expire.

    A load that read the rows before the click was written, or a store that is down, must
    not take a Continue back.
    """

    def __init__(self, max_users: int) -> None:
        self._max_users = max_users
        self._by_user: OrderedDict[str, tuple[Acknowledgement, ...]] = OrderedDict()

    def add(self, username: str, ack: Acknowledgement) -> None:
        # A click again on the same category outlasts the one before: keep the later only,
        # or each click would be carried (and checked on every request) for a whole TTL.
        kept = tuple(
            a
            for a in self._by_user.get(username, ())
            if a.category != ack.category or a.expires_at > ack.expires_at
        )
        self._by_user[username] = (*kept, ack)
        self._by_user.move_to_end(username)
        while len(self._by_user) > self._max_users:
            self._by_user.popitem(last=False)

    def apply(self, username: str, subject: Subject, now: datetime) -> Subject:
        acks = self._by_user.get(username)
        if acks is None:
            return subject
        live = tuple(a for a in acks if now < a.expires_at)
        if live:
            self._by_user[username] = live
        else:
            del self._by_user[username]
        return _with_acknowledgements(subject, live)


def _with_acknowledgements(subject: Subject, acks: tuple[Acknowledgement, ...]) -> Subject:
    missing = tuple(a for a in acks if a not in subject.acknowledgements)
    if not missing:
        return subject
    return replace(subject, acknowledgements=subject.acknowledgements + missing)
