"""Writing training completions: one at a time, or a whole import in chunks.

A completion already present (same user, module and time) is left alone, so imports repeat
safely. Sessions are opened and committed by the caller.
"""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import String, bindparam
from sqlalchemy.dialects import postgresql, sqlite

from proxy.store.models import TrainingCompletion

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from sqlalchemy.orm import Session

_KEY = ("user_id", "module", "completed_at")


class Completion(NamedTuple):
    user_id: int
    module: str
    completed_at: datetime


def insert_completions(
    session: Session, rows: Sequence[Completion], source: str, now: datetime
) -> int:
    """Insert `rows` in one executemany, skipping those already present; the number inserted.

    The caller keeps chunks to a size the driver handles well (about 20,000 rows).
    """
    if not rows:
        return 0
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        statement = postgresql.insert(TrainingCompletion).on_conflict_do_nothing(
            index_elements=_KEY
        )
        params = [_params(row, row.completed_at, source, now) for row in rows]
        # psycopg batches executemany into multi-row INSERTs whose rowcount is unknown (-1).
        result = connection.execute(statement.returning(TrainingCompletion.id), params)
        return len(result.all())
    # SQLite: the timestamps go in as the text TZDateTime would store (naive UTC,
    # microseconds), formatted here in one call each: the generic bind processing cost
    # half of a million-row import.
    fast = sqlite.insert(TrainingCompletion).values(
        completed_at=bindparam("completed_at", type_=String()),
        imported_at=bindparam("imported_at", type_=String()),
    )
    stamp = sqlite_text(now)
    params = [_params(row, sqlite_text(row.completed_at), source, stamp) for row in rows]
    # sqlite3 sums the rows changed by each statement of an executemany.
    return connection.execute(fast.on_conflict_do_nothing(index_elements=_KEY), params).rowcount


def sqlite_text(moment: datetime) -> str:
    """`moment` as SQLite stores a TZDateTime: naive UTC, `YYYY-MM-DD HH:MM:SS.ffffff`."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _params(row: Completion, completed_at: Any, source: str, imported_at: Any) -> dict[str, Any]:
    return {
        "user_id": row.user_id,
        "module": row.module,
        "completed_at": completed_at,
        "source": source,
        "imported_at": imported_at,
    }


def record_completion(
    session: Session, user_id: int, module: str, completed_at: datetime, source: str, now: datetime
) -> bool:
    """Record one completion; False if it was already there."""
    return (
        insert_completions(session, [Completion(user_id, module, completed_at)], source, now) == 1
    )
