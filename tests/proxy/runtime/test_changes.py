"""ChangeListener: PostgreSQL notifications reach a running loop's cache and address map,
rolled-back ones never do, and a lost connection is re-made and costs everybody's entry."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import func, make_url, select, text

from policy.subject import Subject
from proxy.backoff import Backoff
from proxy.runtime.address_book import AddressBook
from proxy.runtime.changes import RETRY_FIRST, RETRY_MAX, ChangeListener, conninfo
from proxy.runtime.entitlement_cache import EntitlementCache
from proxy.store.db import make_engine, session_factory
from proxy.store.notify import CHANNEL, notify_addresses, notify_changed
from proxy.store.people import assign_network, save_user, user_id
from tests.e2e.forwarder import Forwarder
from tests.proxy.store.listening import ON_POSTGRES, ON_SQLITE
from tests.waiting import eventually, eventually_async

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

PROPAGATION = 2.0  # seconds a change may take to reach a running proxy


class Known:
    """An entitlement source in memory: everybody is a known user."""

    def subject_for(self, username: str, now: datetime) -> Subject:
        return Subject(username=username, known=True)


async def primed(*names: str) -> EntitlementCache:
    """A cache whose entries stay fresh for the whole test, holding `names`."""
    cache = EntitlementCache(Known(), ttl=600)
    for name in names:
        await cache.get(name)
    return cache


@asynccontextmanager
async def running(
    engine: Engine, cache: EntitlementCache, book: AddressBook | None = None, **kw: float
) -> AsyncIterator[ChangeListener]:
    """A listener started on this loop and listening; stopped afterwards."""
    listener = ChangeListener(engine, cache, AddressBook() if book is None else book, **kw)
    listener.running()
    try:
        await eventually_async(lambda: listener.backend_pid is not None, "LISTEN", within=5.0)
        yield listener
    finally:
        listener.done()


def commit(engine: Engine, usernames: list[str] | None, *, roll_back: bool = False) -> None:
    session = session_factory(engine)()
    with session.begin() as transaction:
        notify_changed(session, usernames)
        if roll_back:
            transaction.rollback()


def cached(cache: EntitlementCache, *names: str) -> list[str]:
    return [name for name in names if cache.peek(name) is not None]


@ON_POSTGRES
def test_a_committed_change_invalidates_that_user(engine: Engine) -> None:
    async def scenario() -> float:
        cache = await primed("alice", "bob")
        async with running(engine, cache):
            commit(engine, ["alice"])
            started = time.monotonic()
            await eventually_async(
                lambda: cache.peek("alice") is None, "alice invalidated", within=PROPAGATION
            )
            took = time.monotonic() - started
            assert cached(cache, "alice", "bob") == ["bob"]
            return took

    assert asyncio.run(scenario()) < PROPAGATION


@ON_POSTGRES
def test_all_invalidates_everybody(engine: Engine) -> None:
    async def scenario() -> None:
        cache = await primed("alice", "bob")
        async with running(engine, cache):
            commit(engine, None)
            await eventually_async(
                lambda: cached(cache, "alice", "bob") == [],
                "everybody invalidated",
                within=PROPAGATION,
            )

    asyncio.run(scenario())


@ON_POSTGRES
def test_a_rolled_back_change_invalidates_nothing(engine: Engine) -> None:
    async def scenario() -> None:
        cache = await primed("alice", "bob")
        async with running(engine, cache):
            commit(engine, ["alice"], roll_back=True)
            commit(engine, ["bob"])  # delivered in commit order: after anything of alice's
            await eventually_async(
                lambda: cache.peek("bob") is None, "bob invalidated", within=PROPAGATION
            )
            assert cached(cache, "alice") == ["alice"]

    asyncio.run(scenario())


@ON_POSTGRES
def test_a_change_of_addresses_reloads_the_map(engine: Engine) -> None:
    now = datetime.now(UTC)
    with session_factory(engine).begin() as session:
        save_user(session, "alice", now, {})

    async def scenario() -> None:
        book = AddressBook()
        async with running(engine, await primed(), book):
            with session_factory(engine).begin() as session:
                alice = user_id(session, "alice")
                assert alice is not None
                assign_network(session, ipaddress.ip_network("10.1.2.0/24"), alice, now)
                notify_addresses(session)
            await eventually_async(
                lambda: book.lookup("10.1.2.7") == "alice", "the new map in use", within=PROPAGATION
            )

    asyncio.run(scenario())


@ON_POSTGRES
def test_an_unknown_change_is_logged(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        cache = await primed("alice")
        async with running(engine, cache):
            with engine.begin() as connection:
                connection.execute(select(func.pg_notify(CHANNEL, "bogus")))
            commit(engine, ["alice"])
            await eventually_async(
                lambda: cache.peek("alice") is None, "alice invalidated", within=PROPAGATION
            )

    asyncio.run(scenario())
    assert "ignoring unknown change 'bogus'" in caplog.text


@ON_POSTGRES
def test_a_lost_connection_is_remade_and_everybody_reloaded(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="leeway.changes")

    async def scenario() -> None:
        cache = await primed("alice", "bob")
        async with running(engine, cache, retry_first=0.1) as listener:
            killed = listener.backend_pid
            with engine.connect() as connection:
                connection.execute(select(func.pg_terminate_backend(killed)))
            await eventually_async(
                lambda: listener.backend_pid not in (None, killed),
                "a new LISTEN connection",
                within=5.0,
            )
            await eventually_async(
                lambda: cached(cache, "alice", "bob") == [],
                "everybody invalidated",
                within=PROPAGATION,
            )
            await cache.get("alice")
            commit(engine, ["alice"])  # and it hears changes again
            await eventually_async(
                lambda: cache.peek("alice") is None, "alice invalidated", within=PROPAGATION
            )

    asyncio.run(scenario())
    assert caplog.text.count("not hearing changes from") == 1
    assert "hearing changes again" in caplog.text


@ON_POSTGRES
def test_an_unreachable_database_is_logged_once_and_retried_until_back(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="leeway.changes")
    url = make_url(db_url)
    forwarder = Forwarder((url.host or "127.0.0.1", url.port or 5432))  # not started: refused
    through = url.set(port=forwarder.port, password="s3cret")
    engine = make_engine(through)

    async def scenario() -> None:
        cache = await primed("alice")
        listener = ChangeListener(engine, cache, AddressBook(), retry_first=0.05, retry_max=0.2)
        refuser = Refuser(forwarder.port)
        listener.running()
        try:
            await eventually_async(lambda: refuser.attempts >= 3, "three connection attempts")
            assert listener.backend_pid is None
            refuser.close()
            forwarder.start()
            await eventually_async(
                lambda: cache.peek("alice") is None, "alice invalidated", within=PROPAGATION
            )
        finally:
            listener.done()
            refuser.close()

    try:
        asyncio.run(scenario())
    finally:
        forwarder.stop()
        engine.dispose()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    masked = through.render_as_string(hide_password=True)
    assert f"not hearing changes from {masked}" in warnings[0]
    assert "s3cret" not in caplog.text
    assert "hearing changes again" in caplog.text


@ON_POSTGRES
def test_done_stops_the_thread_and_closes_its_connection(engine: Engine) -> None:
    async def scenario() -> tuple[int | None, float]:
        async with running(engine, await primed()) as listener:
            pid = listener.backend_pid
            started = time.monotonic()
        return pid, time.monotonic() - started

    pid, stopped_in = asyncio.run(scenario())
    assert stopped_in < 1.5
    assert "leeway-changes" not in [t.name for t in threading.enumerate()]
    eventually(lambda: backends(engine, pid) == 0, f"server process {pid} ends", within=2.0)


def backends(engine: Engine, pid: int | None) -> int:
    """How many of the server's processes serve connection `pid` (0 once it has ended)."""
    query = select(func.count()).select_from(text("pg_stat_activity")).where(text("pid = :pid"))
    with engine.connect() as connection:
        return int(connection.scalar(query, {"pid": pid}) or 0)


class Refuser:
    """A database that is there but never answers: it accepts each connection on `port` and
    closes it at once, counting them, so that a test can count reconnection attempts."""

    def __init__(self, port: int) -> None:
        self.attempts = 0
        self._listener = socket.create_server(("127.0.0.1", port))  # SO_REUSEADDR
        self._listener.settimeout(0.05)  # so that the loop sees `close()` promptly
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._refuse, daemon=True)
        self._thread.start()

    def _refuse(self) -> None:
        while not self._closing.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            connection.close()
            self.attempts += 1

    def close(self) -> None:
        """Stop listening, so that the port can be given to the forwarder."""
        self._closing.set()
        self._thread.join()
        self._listener.close()


@ON_SQLITE
def test_sqlite_listens_to_nothing(engine: Engine) -> None:
    listener = ChangeListener(engine, EntitlementCache(Known()), AddressBook())
    listener.running()  # outside a loop: it must not even look for one
    assert "leeway-changes" not in [t.name for t in threading.enumerate()]
    listener.done()


def test_conninfo_keeps_the_password_and_the_operators_settings() -> None:
    info, defaults = conninfo("postgresql+psycopg://leeway:pw@db:5433/leeway?connect_timeout=2")
    assert info == "postgresql://leeway:pw@db:5433/leeway?connect_timeout=2"
    assert "connect_timeout" not in defaults
    assert defaults["application_name"] == "leeway-changes"


def test_reconnections_back_off_but_never_wait_more_than_5s() -> None:
    """However long the outage, a database that is back is heard again within 5 s: until
    then changes wait for the cache's time limit, which a fleet sets to a minute."""
    backoff = Backoff(RETRY_FIRST, RETRY_MAX)
    waits = [backoff.failed() for _ in range(12)]
    assert waits[:3] == [RETRY_FIRST, 2 * RETRY_FIRST, 4 * RETRY_FIRST]
    assert max(waits) == waits[-1] == 5.0
