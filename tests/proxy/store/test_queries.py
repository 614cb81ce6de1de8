"""The counts metrics and reports share, on real rows (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from proxy.store import models
from proxy.store.db import session_factory
from proxy.store.queries import coverage, department_sizes, valid_completions

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
YEAR = 365 * DAY
MODULES = {"basics": YEAR, "induction": None, "unused": YEAR}

# user -> (department, completions of "basics" as days before NOW; negative: in the future)
PEOPLE: dict[str, tuple[str | None, tuple[float, ...]]] = {
    "recent": ("finance", (10,)),
    "expiring": ("finance", (360,)),  # runs out in 5 days, within a 14-day notice
    "notice-edge": ("finance", (351,)),  # runs out in exactly 14 days: expiring
    "just-expired": ("legal", (365,)),  # runs out now: expired
    "renewed": ("legal", (400, 100)),  # the latest completion counts, and only once
    "not-yet": (None, (-1,)),  # tomorrow's completion is not yet
    "nobody": (None, ()),
}


def _people(engine: Engine) -> dict[str, int]:
    ids = {}
    with session_factory(engine).begin() as session:
        for name, (department, days) in PEOPLE.items():
            user = models.User(username=name, department=department, created_at=NOW - YEAR)
            session.add(user)
            session.flush()
            ids[name] = user.id
            for before in days:
                session.add(_completion(user.id, "basics", NOW - before * DAY))
        session.add(_completion(ids["recent"], "induction", NOW - 1000 * DAY))
        session.add(_completion(ids["recent"], "not-in-the-policy", NOW - DAY))
    return ids


def _completion(user_id: int, module: str, at: datetime) -> models.TrainingCompletion:
    return models.TrainingCompletion(
        user_id=user_id, module=module, completed_at=at, source="test", imported_at=NOW
    )


def test_department_sizes_count_users_without_a_department_under_none(engine: Engine) -> None:
    _people(engine)
    with session_factory(engine)() as session:
        assert department_sizes(session) == {"finance": 3, "legal": 2, None: 2}


def test_valid_completions_are_the_latest_still_valid_ones(engine: Engine) -> None:
    ids = _people(engine)
    valid = valid_completions(MODULES, NOW)
    with session_factory(engine)() as session:
        rows = {(user, module) for user, module, _ in session.execute(select(valid))}
    names = {user_id: name for name, user_id in ids.items()}
    assert {(names[user], module) for user, module in rows} == {
        ("recent", "basics"),
        ("recent", "induction"),  # no validity: valid for ever
        ("expiring", "basics"),
        ("notice-edge", "basics"),
        ("renewed", "basics"),
    }


def test_coverage_counts_valid_and_expiring_users_per_module(engine: Engine) -> None:
    _people(engine)
    with session_factory(engine)() as session:
        rows = session.execute(coverage(MODULES, 14 * DAY, NOW)).all()
    assert {module: (int(n), int(soon)) for module, n, soon in rows} == {
        "basics": (4, 2),
        "induction": (1, 0),  # never expires
    }


def test_deactivated_users_count_nowhere(engine: Engine) -> None:
    ids = _people(engine)
    with session_factory(engine).begin() as session:
        for name in ("recent", "expiring"):
            session.get_one(models.User, ids[name]).deactivated_at = NOW - DAY
    with session_factory(engine)() as session:
        assert department_sizes(session) == {"finance": 1, "legal": 2, None: 2}
        rows = session.execute(coverage(MODULES, 14 * DAY, NOW)).all()
    assert {module: (int(n), int(soon)) for module, n, soon in rows} == {"basics": (2, 1)}
