"""Hear what other instances and the command line change (PostgreSQL LISTEN), and forget it here.

A thread of its own waits on the database; each change is handed to the event loop, which
invalidates the cached entitlements or reloads the address map. On SQLite it does nothing:
the cache's time limit is the fallback there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql
from sqlalchemy import make_url

from addons.tasks import start_task
from proxy.backoff import Backoff
from proxy.store.db import POSTGRES_CONNECT_TIMEOUT, StoreUnavailable, mask_url
from proxy.store.notify import ADDRESSES, ALL, CHANNEL, USER_PREFIX

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

    from proxy.runtime.address_book import AddressBook
    from proxy.runtime.entitlement_cache import EntitlementCache

log = logging.getLogger("leeway.changes")

POLL = 1.0  # seconds between looks at the stop event while no change arrives
RETRY_FIRST = 1.0  # seconds before the first reconnection; doubles up to RETRY_MAX
# Kept short: until the listener is back, changes wait for the cache's time limit (a
# minute in a fleet that relies on notifications) and its back-off after a failed load.
# One connection attempt per RETRY_MAX per instance costs the database nothing.
RETRY_MAX = 5.0
# A server that vanishes without closing the connection is noticed within about 25 s.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5}


def conninfo(url: str | URL) -> tuple[str, dict[str, Any]]:
    """libpq's connection string for a SQLAlchemy URL, and the defaults it does not set."""
    parsed = make_url(url).set(drivername="postgresql")
    defaults: dict[str, Any] = {
        "connect_timeout": POSTGRES_CONNECT_TIMEOUT,
        "application_name": "leeway-changes",
        **KEEPALIVES,
    }
    for name in parsed.query:
        defaults.pop(name, None)
    return parsed.render_as_string(hide_password=False), defaults


class ChangeListener:
    """Invalidates `cache` entries and reloads `book` as PostgreSQL announces changes."""

    def __init__(
        self,
        engine: Engine,
        cache: EntitlementCache,
        book: AddressBook,
        *,
        retry_first: float = RETRY_FIRST,
        retry_max: float = RETRY_MAX,
    ) -> None:
        self.engine = engine
        self.cache = cache
        self.book = book
        self.retry_first = retry_first
        self.retry_max = retry_max
        self.backend_pid: int | None = None  # of the listening connection, while connected
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reload: asyncio.Task[None] | None = None
        self._addresses_stale = False
        self._listening = False  # the thread's current connection got as far as LISTEN

    def running(self) -> None:
        if self.engine.url.get_backend_name() != "postgresql":
            return
        self._loop = asyncio.get_running_loop()
        self._stop.clear()
        self._thread = threading.Thread(target=self._listen, name="leeway-changes", daemon=True)
        self._thread.start()

    def done(self) -> None:
        self._stop.set()
        if self._reload is not None:
            self._reload.cancel()
        if self._thread is not None:
            # The thread sees the event within POLL seconds and closes its connection.
            self._thread.join(timeout=POLL + 1.0)
            self._thread = None

    def _listen(self) -> None:
        """The thread: listen, hand changes over, and reconnect after losing the connection."""
        backoff = Backoff(self.retry_first, self.retry_max)
        lost = False
        while not self._stop.is_set():
            self._listening = False
            try:
                self._session(missed_changes=lost)
            except psycopg.Error as e:
                if self._listening or not lost:  # once per outage
                    log.warning(
                        "not hearing changes from %s (cached entitlements expire instead): %s",
                        mask_url(self.engine.url),
                        _first_line(e),
                    )
                if self._listening:
                    backoff.succeeded()  # a new outage: its first wait is short again
                lost = True
            else:
                return  # stopped
            self._stop.wait(backoff.failed())

    def _session(self, *, missed_changes: bool) -> None:
        """One connection: LISTEN, then hand every notification over until stopped."""
        text, defaults = conninfo(self.engine.url)
        with psycopg.connect(text, autocommit=True, **defaults) as connection:
            connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
            self._listening = True
            self.backend_pid = connection.info.backend_pid
            if missed_changes:
                log.info("hearing changes again: reloading every user and the address map")
                self._hand_over(ALL)
                self._hand_over(ADDRESSES)
            try:
                while not self._stop.is_set():
                    for notify in connection.notifies(timeout=POLL):
                        self._hand_over(notify.payload)
            finally:
                self.backend_pid = None

    def _hand_over(self, payload: str) -> None:
        loop = self._loop
        if loop is None or self._stop.is_set():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed while stopping
            loop.call_soon_threadsafe(self._apply, payload)

    def _apply(self, payload: str) -> None:
        """On the loop: act on one notification."""
        if payload == ALL:
            self.cache.invalidate()
        elif payload.startswith(USER_PREFIX):
            self.cache.invalidate(payload.removeprefix(USER_PREFIX))
        elif payload == ADDRESSES:
            self._addresses_changed()
        else:
            log.warning("ignoring unknown change %r on channel %s", payload, CHANNEL)

    def _addresses_changed(self) -> None:
        # One reload at a time, so an older map never replaces a newer one; changes that
        # arrive meanwhile are read by one more reload.
        self._addresses_stale = True
        if self._reload is None or self._reload.done():
            self._reload = start_task(self._reload_addresses(), name="leeway-address-reload")

    async def _reload_addresses(self) -> None:
        while self._addresses_stale:
            self._addresses_stale = False
            try:
                await asyncio.to_thread(self.book.load, self.engine)
            except StoreUnavailable as e:
                log.warning("client address map not reloaded: %s", e)


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
