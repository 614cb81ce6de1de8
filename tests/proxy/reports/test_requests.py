"""The report's access requests per category and state, folded so that nobody is singled out."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from proxy.privacy import OTHER
from proxy.reports.requests import request_counts
from proxy.store.access_requests import approve, ask, deny
from proxy.store.db import session_factory
from tests.proxy.reports.report_support import DAY, NOW, Rows

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.engine import Engine

K = 5
INSIDE = NOW - DAY


@pytest.fixture
def rows(engine: Engine) -> Rows:
    rows = Rows(engine)
    rows.staff("finance", "f", 6)
    rows.staff("legal", "l", 6)
    return rows


def asks(
    engine: Engine, category: str, names: list[str], at: datetime = INSIDE, role: str = "r"
) -> list[int]:
    with session_factory(engine).begin() as session:
        return [
            ask(
                session, username=n, category=category, role=role, justification="j", now=at
            ).request.id
            for n in names
        ]


def counts(engine: Engine, department: str | None = None) -> list[tuple[str, str, int | None, int]]:
    with session_factory(engine)() as session:
        found = request_counts(session, since=NOW - 7 * DAY, until=NOW, department=department, k=K)
    return [(c.category, c.state, c.count, c.people) for c in found]


def test_categories_of_k_people_are_named_with_every_state(rows: Rows, engine: Engine) -> None:
    social = asks(engine, "social", [f"f{n}" for n in range(5)])
    asks(engine, "video", [f"l{n}" for n in range(5)])
    with session_factory(engine).begin() as session:
        approve(session, social[0], operator="hr", now=INSIDE)
        deny(session, social[1], operator="hr", reason="no", now=INSIDE)
        deny(session, social[2], operator="hr", reason="no", now=INSIDE)
    assert counts(engine) == [
        ("social", "pending", 2, 5),
        ("social", "approved", 1, 5),
        ("social", "denied", 2, 5),
        ("video", "pending", 5, 5),
        ("video", "approved", 0, 5),
        ("video", "denied", 0, 5),
    ]


def test_a_small_category_folds_into_other_with_the_smallest_named(
    rows: Rows, engine: Engine
) -> None:
    asks(engine, "social", [f"f{n}" for n in range(5)])
    asks(engine, "video", [f"l{n}" for n in range(6)])
    asks(engine, "news", ["f5", "l5"])
    # other (news) would hold 2 people: social, the smallest named group, joins it.
    assert counts(engine) == [
        ("video", "pending", 6, 6),
        ("video", "approved", 0, 6),
        ("video", "denied", 0, 6),
        (OTHER, "pending", 7, 7),
        (OTHER, "approved", 0, 7),
        (OTHER, "denied", 0, 7),
    ]


def test_fewer_than_k_people_in_all_show_their_number_only(rows: Rows, engine: Engine) -> None:
    asks(engine, "social", ["f0", "f1", "f2"])
    assert counts(engine) == [
        (OTHER, state, None, 3) for state in ("pending", "approved", "denied")
    ]


def test_one_person_asking_on_many_categories_is_one_person(rows: Rows, engine: Engine) -> None:
    for category in ("a", "b", "c", "d", "e"):
        asks(engine, category, ["f0"])
    # Five categories of one requester each: `other` sums to 5, but it is one person.
    assert counts(engine) == [
        (OTHER, state, None, 1) for state in ("pending", "approved", "denied")
    ]


def test_only_requests_made_in_the_window_and_department(rows: Rows, engine: Engine) -> None:
    asks(engine, "social", [f"f{n}" for n in range(5)])
    asks(engine, "social", [f"l{n}" for n in range(5)])
    asks(engine, "social", ["f0"], at=NOW - 8 * DAY, role="before")
    asks(engine, "social", ["f1"], at=NOW, role="at the end")
    assert counts(engine)[0] == ("social", "pending", 10, 10)
    assert counts(engine, "finance")[0] == ("social", "pending", 5, 5)


def test_no_requests_no_rows(rows: Rows, engine: Engine) -> None:
    assert counts(engine) == []
