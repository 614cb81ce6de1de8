"""Access events in the store: idempotent batch inserts, retention, and one person's events.

A deliberate look at one person's events is itself recorded. The caller's session commits,
except in `write_events`, the audit trail's own transaction per batch.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import fields
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import bindparam, delete, exc, func, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from proxy.store.access_event import AccessEvent
from proxy.store.db import store_errors
from proxy.store.models import AccessEvent as EventRow
from proxy.store.models import AuditLookup

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime, timedelta

    from sqlalchemy import Executable
    from sqlalchemy.engine import Connection, Dialect, Engine

    from proxy.store.access_event import EventKind

log = logging.getLogger("leeway.store")

# The event's fields are its columns. Read one by one: `dataclasses.asdict` deep-copies
# every value, which cost half of the audit thread's time per event.
COLUMNS = tuple(f.name for f in fields(AccessEvent))
PSEUDONYM_PREFIX = "p:"
PSEUDONYM_HEX_DIGITS = 16


# SQLite: the whole batch as one JSON parameter of one statement. An executemany steps
# the statement once per row, and the sqlite3 module releases and retakes the GIL at each
# step: under load every row waited for the event loop to yield (up to the interpreter's
# switch interval, 5 ms), and the loop paid for each switch.
_TABLE = EventRow.metadata.tables[EventRow.__tablename__]
_ROW = func.json_each(bindparam("rows")).table_valued("value")
_SQLITE_FROM_JSON = (
    sqlite.insert(_TABLE)
    .from_select(
        COLUMNS,
        select(*(func.json_extract(_ROW.c.value, f"$[{i}]") for i in range(len(COLUMNS)))).where(
            true()  # SQLite needs a WHERE to tell ON CONFLICT from a join's ON
        ),
    )
    .on_conflict_do_nothing(index_elements=["event_id"])
)


def insert_events(connection: Connection, events: Sequence[AccessEvent]) -> None:
    """Insert `events`, skipping any whose `event_id` is already stored (a replay)."""
    if not events:
        return
    dialect = connection.dialect
    if dialect.name == "sqlite":
        connection.execute(_SQLITE_FROM_JSON, {"rows": _json_rows(events, dialect)})
        return
    rows = [{name: getattr(event, name) for name in COLUMNS} for event in events]
    connection.execute(_insert_ignoring_duplicates(dialect.name), rows)


def _json_rows(events: Sequence[AccessEvent], dialect: Dialect) -> str:
    """`events` as a JSON list of rows, each value as the column's own type binds it."""
    bind = [_TABLE.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in COLUMNS]
    return json.dumps(
        [
            [
                value if to_db is None else to_db(value)
                for to_db, value in zip(bind, row, strict=True)
            ]
            for row in ([getattr(event, name) for name in COLUMNS] for event in events)
        ],
        ensure_ascii=False,  # text that SQLite cannot take fails as it did bound directly
    )


def write_events(engine: Engine, events: Sequence[AccessEvent]) -> tuple[int, int]:
    """Insert `events` in a transaction of their own; (events written, events refused).

    `StoreUnavailable` if the database is down. A batch the database refuses (a value
    too long, say) is retried one event at a time, so that one bad event neither holds
    back the others nor blocks the audit trail; each refused event is logged.
    """
    try:
        # A plain connection, not an ORM session: the audit trail writes about once a
        # second while traffic flows, and a session's set-up cost more than the insert.
        with store_errors(engine.url), engine.begin() as connection:
            insert_events(connection, events)
    except (exc.IntegrityError, exc.DataError):
        if len(events) == 1:
            log.exception("the store refused audit event %s", events[0].event_id)
            return 0, 1
        results = [write_events(engine, [event]) for event in events]
        return sum(written for written, _ in results), sum(refused for _, refused in results)
    return len(events), 0


def _insert_ignoring_duplicates(dialect: str) -> Executable:
    # On the table, not the mapped class: a Core executemany, without the ORM's bulk
    # machinery, which cost the proxy measurable CPU for every batch of events.
    table = EventRow.metadata.tables[EventRow.__tablename__]
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=["event_id"])
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=["event_id"])
    raise ValueError(f"database dialect {dialect!r} is not supported (expected sqlite, postgresql)")


def prune(session: Session, *, older_than: timedelta, now: datetime) -> int:
    """Delete the events that occurred before `now - older_than`; how many were deleted."""
    statement = delete(EventRow).where(EventRow.occurred_at < now - older_than)
    return rowcount(session.execute(statement.execution_options(synchronize_session=False)))


def pseudonym(key: bytes, username: str) -> str:
    """The keyed hash that stands for `username` in old events: `p:` and 16 hex digits."""
    digest = hmac.new(key, username.encode("utf-8"), hashlib.sha256).hexdigest()
    return PSEUDONYM_PREFIX + digest[:PSEUDONYM_HEX_DIGITS]


def pseudonymise(session: Session, *, older_than: timedelta, key: bytes, now: datetime) -> int:
    """Replace the usernames of events before `now - older_than` by their pseudonym.

    Names that already start with `p:` are left alone, so running it again hashes nothing
    twice (a real username starting with `p:` stays as it is). Returns the events changed.
    """
    cutoff = now - older_than
    old = (
        EventRow.occurred_at < cutoff,
        EventRow.username.is_not(None),
        EventRow.username.not_like(PSEUDONYM_PREFIX + "%"),
    )
    names = session.scalars(select(EventRow.username).where(*old).distinct()).all()
    changed = 0
    for name in filter(None, names):
        statement = (
            update(EventRow)
            .where(EventRow.username == name, EventRow.occurred_at < cutoff)
            .values(username=pseudonym(key, name))
            .execution_options(synchronize_session=False)
        )
        changed += rowcount(session.execute(statement))
    return changed


def events_for_user(session: Session, username: str, *, since: datetime) -> list[AccessEvent]:
    """`username`'s events from `since` on, newest first."""
    query = (
        select(EventRow)
        .where(EventRow.username == username, EventRow.occurred_at >= since)
        .order_by(EventRow.occurred_at.desc(), EventRow.id.desc())
    )
    return [_event(row) for row in session.scalars(query)]


def record_lookup(
    session: Session, *, operator: str, subject: str, since: datetime, now: datetime
) -> None:
    """Record that `operator` looked at `subject`'s events from `since` on, at `now`."""
    lookup = AuditLookup(operator=operator, subject_username=subject, since=since, looked_at=now)
    session.add(lookup)


def _event(row: EventRow) -> AccessEvent:
    return AccessEvent(
        event_id=row.event_id,
        occurred_at=row.occurred_at,
        kind=cast("EventKind", row.kind),  # only the audit trail writes this column
        username=row.username,
        department=row.department,
        host=row.host,
        category=row.category,
        access=row.access,
        action=row.action,
        reason=row.reason,
        rule=row.rule,
        instance=row.instance,
        requests=row.requests,
    )


def rowcount(result: Any) -> int:
    # DELETE and UPDATE return a CursorResult, whose rowcount the generic Result type hides.
    return int(result.rowcount)
