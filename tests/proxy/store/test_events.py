"""Access event queries on SQLite and PostgreSQL: idempotent inserts, retention, look-ups."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from proxy.store.access_event import AccessEvent
from proxy.store.db import session_factory
from proxy.store.events import (
    events_for_user,
    insert_events,
    prune,
    pseudonym,
    pseudonymise,
    record_lookup,
    write_events,
)
from proxy.store.models import AccessEvent as EventRow
from proxy.store.models import AuditLookup
from tests.audit_events import access_event

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
KEY = b"k" * 32


def event(
    username: str | None = "alice", *, days_ago: float = 0, event_id: str | None = None
) -> AccessEvent:
    made = access_event(
        NOW - timedelta(days=days_ago),
        username=username,
        department="Finance" if username else None,
    )
    return made if event_id is None else replace(made, event_id=event_id)


def insert(engine: Engine, *events: AccessEvent) -> None:
    with engine.begin() as connection:
        insert_events(connection, events)


FIELDS = [field.name for field in fields(AccessEvent)]


def stored(engine: Engine) -> list[AccessEvent]:
    with session_factory(engine)() as session:
        rows = session.scalars(select(EventRow).order_by(EventRow.id))
        return [AccessEvent(**{name: getattr(row, name) for name in FIELDS}) for row in rows]


def usernames(engine: Engine) -> list[str | None]:
    return [stored_event.username for stored_event in stored(engine)]


def test_insert_keeps_every_field(engine: Engine) -> None:
    named, anonymous = replace(event(), requests=12), event(None)
    anonymous = replace(anonymous, kind="acknowledgement", rule=None)
    insert(engine, named, anonymous)
    assert stored(engine) == [named, anonymous]
    assert stored(engine)[0].occurred_at.tzinfo is not None


def test_insert_of_a_replayed_event_adds_nothing(engine: Engine) -> None:
    a, b, c = event(), event("bob"), event("carol")
    insert(engine, a, b)
    insert(engine, a, b, c, c)  # a replay after a crash between commit and truncation
    insert(engine, c)
    assert sorted(e.event_id for e in stored(engine)) == sorted(
        [a.event_id, b.event_id, c.event_id]
    )


def test_write_events_counts_and_survives_a_replay(engine: Engine) -> None:
    a, b = event(), event("bob")
    assert write_events(engine, [a, b]) == (2, 0)
    assert write_events(engine, [a, b]) == (2, 0)  # idempotent: still two rows
    assert len(stored(engine)) == 2


@pytest.mark.parametrize(
    "db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_write_events_skips_an_event_the_database_refuses(engine: Engine) -> None:
    # PostgreSQL enforces column lengths: one bad event must not hold back the others.
    good, bad = event(), replace(event("bob"), host="x" * 300)
    assert write_events(engine, [good, bad]) == (1, 1)
    assert [e.event_id for e in stored(engine)] == [good.event_id]


def test_prune_deletes_only_events_older_than_the_period(engine: Engine) -> None:
    insert(engine, event(days_ago=91), event(days_ago=90), event(days_ago=1))
    with session_factory(engine).begin() as session:
        assert prune(session, older_than=timedelta(days=90), now=NOW) == 1
    assert sorted(e.occurred_at for e in stored(engine)) == [
        NOW - timedelta(days=90),
        NOW - timedelta(days=1),
    ]


def test_pseudonymise_replaces_old_usernames_once(engine: Engine) -> None:
    insert(engine, event(days_ago=40), event(days_ago=35), event(None, days_ago=40))
    insert(engine, event("bob", days_ago=31), event(days_ago=2))
    older_than = timedelta(days=30)
    with session_factory(engine).begin() as session:
        assert pseudonymise(session, older_than=older_than, key=KEY, now=NOW) == 3
    alice, bob = pseudonym(KEY, "alice"), pseudonym(KEY, "bob")
    assert usernames(engine) == [alice, alice, None, bob, "alice"]
    with session_factory(engine).begin() as session:  # again, later: nothing hashed twice
        assert pseudonymise(session, older_than=older_than, key=KEY, now=NOW) == 0
    assert usernames(engine) == [alice, alice, None, bob, "alice"]


def test_pseudonym_is_a_keyed_hash() -> None:
    assert pseudonym(KEY, "alice").startswith("p:")
    assert len(pseudonym(KEY, "alice")) == 18
    assert pseudonym(KEY, "alice") == pseudonym(KEY, "alice")
    assert pseudonym(KEY, "alice") != pseudonym(KEY, "bob")
    assert pseudonym(KEY, "alice") != pseudonym(b"other key", "alice")


def test_events_for_user_newest_first_since(engine: Engine) -> None:
    old, older, recent = event(days_ago=40), event(days_ago=20), event(days_ago=1)
    insert(engine, older, old, recent, event("bob", days_ago=1))
    with session_factory(engine)() as session:
        found = events_for_user(session, "alice", since=NOW - timedelta(days=30))
    assert [e.event_id for e in found] == [recent.event_id, older.event_id]
    assert found[0] == recent


def test_record_lookup(engine: Engine) -> None:
    since = NOW - timedelta(days=30)
    with session_factory(engine).begin() as session:
        record_lookup(session, operator="sec-ann", subject="alice", since=since, now=NOW)
    with session_factory(engine)() as session:
        [lookup] = session.scalars(select(AuditLookup))
        assert (lookup.operator, lookup.subject_username) == ("sec-ann", "alice")
        assert (lookup.since, lookup.looked_at) == (since, NOW)
