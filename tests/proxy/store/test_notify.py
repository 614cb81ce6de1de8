"""notify_changed and notify_addresses: delivered at commit on PostgreSQL, never on rollback,
and nothing at all on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import event

from proxy.store.acks import record_acknowledgement
from proxy.store.db import session_factory
from proxy.store.notify import MAX_USERS, notify_addresses, notify_changed
from tests.proxy.store.listening import ON_POSTGRES, ON_SQLITE, Listening

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


class RolledBack(Exception):
    """Raised inside a transaction to roll it back."""


@pytest.fixture
def listening(db_url: str) -> Iterator[Listening]:
    with Listening(db_url) as listener:
        yield listener


@ON_POSTGRES
@pytest.mark.parametrize(
    ("usernames", "expected"),
    [
        pytest.param(["alice"], ["user:alice"], id="one user"),
        pytest.param(["bob", "alice", "bob"], ["user:alice", "user:bob"], id="each user once"),
        pytest.param([], [], id="nobody -> nothing"),
        pytest.param(None, ["all"], id="everybody -> all"),
        pytest.param([f"u{i}" for i in range(MAX_USERS + 1)], ["all"], id="many users -> all"),
        pytest.param(["x" * 8000], ["all"], id="a name too long for a payload -> all"),
    ],
)
def test_a_commit_notifies(
    engine: Engine, listening: Listening, usernames: list[str] | None, expected: list[str]
) -> None:
    with session_factory(engine).begin() as session:
        notify_changed(session, usernames)
        assert listening.received(0.2) == [], "nothing before the commit"
    assert sorted(listening.received()) == expected


@ON_POSTGRES
def test_at_most_max_users_are_named(engine: Engine, listening: Listening) -> None:
    names = [f"u{i:03}" for i in range(MAX_USERS)]
    with session_factory(engine).begin() as session:
        notify_changed(session, names)
    assert sorted(listening.received()) == [f"user:{name}" for name in names]


@ON_POSTGRES
def test_a_change_of_addresses_notifies(engine: Engine, listening: Listening) -> None:
    with session_factory(engine).begin() as session:
        notify_addresses(session)
    assert listening.received() == ["addresses"]


@ON_POSTGRES
def test_a_rollback_notifies_nobody(engine: Engine, listening: Listening) -> None:
    with pytest.raises(RolledBack), session_factory(engine).begin() as session:
        notify_changed(session, ["alice"])
        notify_changed(session, None)
        notify_addresses(session)
        raise RolledBack
    assert listening.received(0.5) == []


@ON_SQLITE
def test_sqlite_runs_nothing(engine: Engine) -> None:
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    with session_factory(engine).begin() as session:
        notify_changed(session, ["alice"])
        notify_changed(session, None)
        notify_addresses(session)
    assert statements == []


@ON_POSTGRES
def test_a_continue_written_notifies_its_user(engine: Engine, listening: Listening) -> None:
    now = datetime.now(UTC)
    with session_factory(engine).begin() as session:
        record_acknowledgement(
            session,
            username="ann",
            category="social",
            acknowledged_at=now,
            expires_at=now + timedelta(hours=8),
            client_address=None,
        )
    assert listening.received() == ["user:ann"]
