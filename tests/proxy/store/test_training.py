"""Training completions in the store: chunked inserts that skip what is already there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from proxy.store.models import TrainingCompletion
from proxy.store.people import save_user, user_id
from proxy.store.training import Completion, insert_completions, record_completion, sqlite_text

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.engine import Engine

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
WHEN = datetime(2026, 3, 1, 9, 30, 15, 250, tzinfo=UTC)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session, session.begin():
        save_user(session, "alice", NOW, {})
        session.flush()
        yield session


def alice(session: Session) -> int:
    found = user_id(session, "alice")
    assert found is not None
    return found


def test_insert_counts_only_new_rows(session: Session) -> None:
    rows = [Completion(alice(session), "basics", WHEN + timedelta(days=n)) for n in range(3)]
    assert insert_completions(session, rows, "lms.csv", NOW) == 3
    assert insert_completions(session, [*rows, *rows[:1]], "lms.csv", NOW) == 0
    extra = Completion(alice(session), "basics", WHEN - timedelta(days=1))
    assert insert_completions(session, [*rows, extra], "again.csv", NOW) == 1
    stored = session.execute(
        select(
            TrainingCompletion.completed_at,
            TrainingCompletion.source,
            TrainingCompletion.imported_at,
        ).order_by(TrainingCompletion.completed_at)
    ).all()
    assert [tuple(row) for row in stored] == [
        (WHEN - timedelta(days=1), "again.csv", NOW),
        *[(row.completed_at, "lms.csv", NOW) for row in rows],
    ]


def test_an_orm_row_and_an_imported_row_for_the_same_moment_are_one(session: Session) -> None:
    session.add(
        TrainingCompletion(
            user_id=alice(session),
            module="basics",
            completed_at=WHEN,
            source="orm",
            imported_at=NOW,
        )
    )
    session.flush()
    same_moment = WHEN.astimezone(timezone(timedelta(hours=-5)))
    assert (
        insert_completions(session, [Completion(alice(session), "basics", same_moment)], "x", NOW)
        == 0
    )


def test_record_says_whether_it_was_new(session: Session) -> None:
    assert record_completion(session, alice(session), "basics", WHEN, "cli", NOW) is True
    assert record_completion(session, alice(session), "basics", WHEN, "cli", NOW) is False


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_sqlite_text_is_what_tzdatetime_stores(session: Session) -> None:
    """The import's SQLite fast path must write exactly what the ORM writes, or dedupe breaks."""
    session.add(
        TrainingCompletion(
            user_id=alice(session),
            module="basics",
            completed_at=WHEN,
            source="orm",
            imported_at=NOW,
        )
    )
    session.flush()
    stored = session.execute(text("SELECT completed_at FROM training_completions")).scalar_one()
    assert stored == sqlite_text(WHEN) == "2026-03-01 09:30:15.000250"
