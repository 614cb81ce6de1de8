"""The store's side of reading the learning record store: claimed statements and cursors.

A statement id is claimed by inserting it into `xapi_statements`; a claim that finds the id
already there does nothing, so whoever claims it first (another follower too) applies it.
Sessions are opened and committed by the caller.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from proxy.store.models import TrainingCompletion, User, XapiCursor, XapiStatement

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

    from sqlalchemy import Table
    from sqlalchemy.orm import Session

    from proxy.store.training import Completion

SOURCE_PREFIX = "xapi:"
SKIP_PREFIX = "skip:"  # outcome of a statement that did not count (yet)
VOIDED = "voided"
CHUNK = 5_000
# Core tables, not the ORM classes: the ORM's bulk insert costs more than SQLite's own work.
STATEMENTS = cast("Table", XapiStatement.__table__)
COMPLETIONS = cast("Table", TrainingCompletion.__table__)


@dataclass(frozen=True, slots=True)
class Cursor:
    stored: datetime
    ids: frozenset[str]  # the statements stored at `stored` already read


def _insert(session: Session) -> Any:
    name = session.get_bind().dialect.name
    return postgresql.insert if name == "postgresql" else sqlite.insert


def claim(session: Session, outcomes: Mapping[str, str], now: datetime) -> set[str]:
    """Record statement id -> outcome; the ids this call recorded.

    An id already recorded is claimed again only if it was skipped (`skip:...`): read again
    after the directory or the policy changed, it may count now. Applied and voided are final.
    """
    insert = _insert(session)(STATEMENTS)
    statement = insert.on_conflict_do_update(
        index_elements=[STATEMENTS.c.statement_id],
        set_={"outcome": insert.excluded.outcome, "handled_at": insert.excluded.handled_at},
        where=STATEMENTS.c.outcome.like(f"{SKIP_PREFIX}%"),
    )
    return _execute_claims(session, statement, outcomes, now)


def mark_voided(session: Session, statement_ids: Sequence[str], now: datetime) -> None:
    """Record that these statements are voided, whether or not they have arrived yet."""
    insert = _insert(session)(STATEMENTS)
    statement = insert.on_conflict_do_update(
        index_elements=[STATEMENTS.c.statement_id],
        set_={"outcome": VOIDED, "handled_at": insert.excluded.handled_at},
    )
    _execute_claims(session, statement, dict.fromkeys(statement_ids, VOIDED), now)


def _execute_claims(
    session: Session, statement: Any, outcomes: Mapping[str, str], now: datetime
) -> set[str]:
    params = [
        {"statement_id": sid, "outcome": outcome, "handled_at": now}
        for sid, outcome in outcomes.items()
    ]
    claimed: set[str] = set()
    for start in range(0, len(params), CHUNK):
        result = session.execute(
            statement.returning(STATEMENTS.c.statement_id), params[start : start + CHUNK]
        )
        claimed.update(result.scalars())
    return claimed


def insert_sourced(
    session: Session, rows: Sequence[tuple[Completion, str]], now: datetime
) -> list[int]:
    """Insert completions, each with its own source; the user ids of those inserted."""
    statement = _insert(session)(COMPLETIONS).on_conflict_do_nothing(
        index_elements=["user_id", "module", "completed_at"]
    )
    params = [
        {
            "user_id": row.user_id,
            "module": row.module,
            "completed_at": row.completed_at,
            "source": source,
            "imported_at": now,
        }
        for row, source in rows
    ]
    users: list[int] = []
    for start in range(0, len(params), CHUNK):
        result = session.execute(
            statement.returning(COMPLETIONS.c.user_id), params[start : start + CHUNK]
        )
        users.extend(result.scalars())
    return users


def remove_completions(session: Session, statement_ids: Sequence[str]) -> list[int]:
    """Delete the completions these statements created; the user ids whose were removed."""
    sources = [f"{SOURCE_PREFIX}{sid}" for sid in statement_ids]
    users: list[int] = []
    for start in range(0, len(sources), CHUNK):
        result = session.execute(
            delete(TrainingCompletion)
            .where(TrainingCompletion.source.in_(sources[start : start + CHUNK]))
            .returning(TrainingCompletion.user_id)
        )
        users.extend(result.scalars())
    return users


def latest_completions(
    session: Session, username: str, at: datetime
) -> list[tuple[str, datetime, str]]:
    """(module, completed_at, source) of `username`'s latest completion of each module by `at`."""
    rows = session.execute(
        select(
            TrainingCompletion.module, TrainingCompletion.completed_at, TrainingCompletion.source
        )
        .join(User, User.id == TrainingCompletion.user_id)
        .where(User.username == username, TrainingCompletion.completed_at <= at)
        .order_by(TrainingCompletion.module, TrainingCompletion.completed_at)
    )
    latest: dict[str, tuple[str, datetime, str]] = {}
    for module, completed_at, source in rows:
        latest[module] = (module, completed_at, source)  # ordered: the last is the latest
    return list(latest.values())


def directory_rows(session: Session) -> list[tuple[int, str, str | None]]:
    """(id, username, email) of every user."""
    rows = session.execute(select(User.id, User.username, User.email))
    return [(uid, name, email) for uid, name, email in rows]


def read_cursor(session: Session, lrs_url: str) -> Cursor | None:
    row = session.get(XapiCursor, lrs_url)
    if row is None:
        return None
    return Cursor(row.stored, frozenset(json.loads(row.ids_at_stored)))


def write_cursor(session: Session, lrs_url: str, cursor: Cursor, now: datetime) -> None:
    """Move the cursor of `lrs_url` to `cursor`; never backwards (another follower may lead)."""
    ids = json.dumps(sorted(cursor.ids))
    values = {"lrs_url": lrs_url, "stored": cursor.stored, "ids_at_stored": ids, "updated_at": now}
    created = session.execute(
        _insert(session)(XapiCursor)
        .values(values)
        .on_conflict_do_nothing(index_elements=[XapiCursor.lrs_url])
        .returning(XapiCursor.lrs_url)
    ).first()
    if created is not None:
        return
    row = session.get(XapiCursor, lrs_url, with_for_update=True, populate_existing=True)
    if row is None or cursor.stored < row.stored:
        return
    if cursor.stored == row.stored:
        ids = json.dumps(sorted(cursor.ids | set(json.loads(row.ids_at_stored))))
    row.stored, row.ids_at_stored, row.updated_at = cursor.stored, ids, now
