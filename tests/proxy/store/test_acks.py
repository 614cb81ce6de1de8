"""record_acknowledgement: the row, and a bare user row for a user the store did not know."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from policy.subject import Acknowledgement
from proxy.store import models
from proxy.store.acks import record_acknowledgement
from proxy.store.db import make_engine, session_factory
from proxy.store.entitlements import SqlEntitlements

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
TTL = timedelta(hours=8)


def _record(engine: Engine, username: str, category: str = "social") -> None:
    with session_factory(engine).begin() as session:
        record_acknowledgement(
            session,
            username=username,
            category=category,
            acknowledged_at=NOW,
            expires_at=NOW + TTL,
            client_address="10.0.0.7",
        )


def _users(engine: Engine) -> list[tuple[str, str | None, datetime]]:
    with session_factory(engine)() as session:
        rows = session.execute(
            select(models.User.username, models.User.department, models.User.created_at)
        )
        return [(row.username, row.department, row.created_at) for row in rows]


def test_acknowledgement_of_a_known_user(engine: Engine) -> None:
    with session_factory(engine).begin() as session:
        session.add(models.User(username="ada", department="finance", created_at=NOW))

    _record(engine, "ada")

    assert _users(engine) == [("ada", "finance", NOW)]
    with session_factory(engine)() as session:
        row = session.scalars(select(models.Acknowledgement)).one()
    assert (row.category, row.acknowledged_at, row.expires_at) == ("social", NOW, NOW + TTL)
    assert row.client_address == "10.0.0.7"


def test_a_user_the_store_did_not_know_is_created_with_the_name_alone(engine: Engine) -> None:
    _record(engine, "newcomer")

    assert _users(engine) == [("newcomer", None, NOW)]
    subject = SqlEntitlements(engine).subject_for("newcomer", NOW)
    assert subject.known
    assert subject.acknowledgements == (Acknowledgement("social", NOW, NOW + TTL),)


def test_the_same_unknown_user_twice_is_one_user(engine: Engine) -> None:
    _record(engine, "newcomer", "social")
    _record(engine, "newcomer", "rich-media")

    assert len(_users(engine)) == 1
    with session_factory(engine)() as session:
        count = session.scalars(select(func.count()).select_from(models.Acknowledgement)).one()
    assert count == 2


def test_instances_recording_for_the_same_new_user_at_once_make_one_user(db_url: str) -> None:
    engines = [make_engine(db_url) for _ in range(6)]
    barrier = threading.Barrier(len(engines))

    def click(engine: Engine) -> None:
        barrier.wait()
        _record(engine, "newcomer")

    try:
        with ThreadPoolExecutor(len(engines)) as pool:
            list(pool.map(click, engines))
        assert len(_users(engines[0])) == 1
        subject = SqlEntitlements(engines[0]).subject_for("newcomer", NOW)
        assert len(subject.acknowledgements) == len(engines)
    finally:
        for engine in engines:
            engine.dispose()
