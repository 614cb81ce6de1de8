"""StoredAccessRequests: the access page's requests, in the real store, off the event loop."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import event, exc

from addons.protocols import RecordsUnavailable, RequestRefused
from proxy.runtime.access_requests import StoredAccessRequests
from proxy.store.access_requests import deny
from proxy.store.db import session_factory
from proxy.store.people import create_missing_users

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def requests(engine: Engine) -> StoredAccessRequests:
    with session_factory(engine).begin() as session:
        create_missing_users(session, ["alice", "bob"], NOW)
    return StoredAccessRequests(engine)


def test_ask_then_read_them_back_newest_first(requests: StoredAccessRequests) -> None:
    created, first = asyncio.run(requests.ask("alice", "social", "comms-publisher", " why ", NOW))
    again, same = asyncio.run(requests.ask("alice", "social", "comms-publisher", "again", NOW))
    assert (created, again, same.id) == (True, False, first.id)
    asyncio.run(requests.ask("alice", "rich-media", "video-team", "films", NOW))
    mine = asyncio.run(requests.of("alice"))
    assert [(r.category, r.state, r.justification) for r in mine] == [
        ("rich-media", "pending", "films"),
        ("social", "pending", "why"),
    ]
    assert asyncio.run(requests.of("bob")) == []


def test_a_denial_shows_its_reason(engine: Engine, requests: StoredAccessRequests) -> None:
    _, asked = asyncio.run(requests.ask("bob", "social", "comms-publisher", "press", NOW))
    with session_factory(engine).begin() as session:
        deny(session, asked.id, operator="it", reason="Use the shared account.", now=NOW)
    (seen,) = asyncio.run(requests.of("bob"))
    assert (seen.state, seen.decision_reason) == ("denied", "Use the shared account.")


def test_the_store_is_read_off_the_event_loop(
    engine: Engine, requests: StoredAccessRequests
) -> None:
    threads: set[str] = set()
    event.listen(
        engine, "before_cursor_execute", lambda *a: threads.add(threading.current_thread().name)
    )
    loop_thread = threading.current_thread().name
    asyncio.run(requests.of("alice"))
    asyncio.run(requests.ask("alice", "social", "comms-publisher", "why", NOW))
    assert threads and loop_thread not in threads


@pytest.mark.parametrize(
    ("username", "justification", "why"),
    [
        ("zed", "why", "not known to Leeway"),
        ("alice", "   ", "justification is required"),
        ("alice", "x" * 501, "at most 500"),
    ],
)
def test_what_the_store_refuses_is_a_refusal(
    requests: StoredAccessRequests, username: str, justification: str, why: str
) -> None:
    with pytest.raises(RequestRefused, match=why):
        asyncio.run(requests.ask(username, "social", "comms-publisher", justification, NOW))


def test_an_outage_is_records_unavailable(engine: Engine, requests: StoredAccessRequests) -> None:
    with engine.connect():
        pass

    def fail(*args: Any) -> None:
        raise exc.OperationalError("SELECT", {}, Exception("server closed the connection"))

    event.listen(engine, "before_cursor_execute", fail)
    with pytest.raises(RecordsUnavailable, match="unavailable"):
        asyncio.run(requests.of("alice"))
    with pytest.raises(RecordsUnavailable, match="unavailable"):
        asyncio.run(requests.ask("alice", "social", "comms-publisher", "why", NOW))
