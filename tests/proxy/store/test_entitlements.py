"""SqlEntitlements builds the right Subject in two queries, and fails as StoreUnavailable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import event

from policy.subject import Acknowledgement, Grant, Subject
from proxy.store import models
from proxy.store.db import StoreUnavailable, make_engine, session_factory
from proxy.store.entitlements import SqlEntitlements

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from sqlalchemy.engine import Engine

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _add_user(engine: Engine, username: str, department: str | None = None) -> int:
    with session_factory(engine).begin() as session:
        user = models.User(username=username, department=department, created_at=NOW - 100 * DAY)
        session.add(user)
        session.flush()
        return user.id


def _add(engine: Engine, *rows: Any) -> None:
    with session_factory(engine).begin() as session:
        session.add_all(rows)


def _completion(user_id: int, module: str, completed_at: datetime) -> models.TrainingCompletion:
    return models.TrainingCompletion(
        user_id=user_id, module=module, completed_at=completed_at, source="lms", imported_at=NOW
    )


def _grant(user_id: int, role: str, **times: datetime) -> models.RoleGrant:
    times.setdefault("starts_at", NOW - 10 * DAY)
    return models.RoleGrant(user_id=user_id, role=role, granted_by="hr", granted_at=NOW, **times)


def _ack(user_id: int, category: str, expires_at: datetime) -> models.Acknowledgement:
    return models.Acknowledgement(
        user_id=user_id, category=category, acknowledged_at=expires_at - DAY, expires_at=expires_at
    )


@pytest.fixture
def queries(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements the engine sends from now on (connect-time set-up excluded)."""
    with engine.connect():
        pass  # the first connect runs the dialect's own queries: not ours to count
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    yield statements
    event.remove(engine, "before_cursor_execute", record)


def test_unknown_user_is_anonymous_after_one_query(engine: Engine, queries: list[str]) -> None:
    subject = SqlEntitlements(engine).subject_for("nobody", NOW)
    assert subject == Subject.anonymous("nobody")
    assert len(queries) == 1


def test_known_user_without_records(engine: Engine) -> None:
    _add_user(engine, "ada", department="finance")
    subject = SqlEntitlements(engine).subject_for("ada", NOW)
    assert subject == Subject(username="ada", known=True, department="finance")


def test_a_deactivated_user_is_decided_as_unknown_whatever_they_hold(
    engine: Engine, queries: list[str]
) -> None:
    ada = _add_user(engine, "ada", department="comms")
    _add(engine, _completion(ada, "social-media-basics", NOW - DAY), _grant(ada, "comms-publisher"))
    assert SqlEntitlements(engine).subject_for("ada", NOW).grants
    with session_factory(engine).begin() as session:
        user = session.get(models.User, ada)
        assert user is not None
        user.deactivated_at = NOW - DAY  # `users sync` no longer found them
    queries.clear()
    assert SqlEntitlements(engine).subject_for("ada", NOW) == Subject.anonymous("ada")
    assert len(queries) == 1


def test_completions_are_sorted_per_module(engine: Engine, queries: list[str]) -> None:
    ada = _add_user(engine, "ada", department="comms")
    times = [NOW - 400 * DAY, NOW - 3 * DAY, NOW - 30 * DAY]
    _add(engine, *(_completion(ada, "social-media-basics", t) for t in times))
    _add(engine, _completion(ada, "video-privacy", NOW + DAY))
    queries.clear()

    subject = SqlEntitlements(engine).subject_for("ada", NOW)

    assert subject.known
    assert subject.department == "comms"
    assert subject.completions == {
        "social-media-basics": tuple(sorted(times)),
        "video-privacy": (NOW + DAY,),
    }
    assert subject.latest_completion("social-media-basics", NOW) == NOW - 3 * DAY
    assert len(queries) == 2


def test_grants_keep_their_history_and_only_the_active_one_counts(engine: Engine) -> None:
    ada = _add_user(engine, "ada")
    _add(
        engine,
        _grant(ada, "comms-publisher", ends_at=NOW + 30 * DAY),
        _grant(ada, "video-editor", ends_at=NOW - DAY),
        _grant(ada, "moderator", revoked_at=NOW - DAY),
    )

    subject = SqlEntitlements(engine).subject_for("ada", NOW)

    assert subject.grants == (
        Grant("comms-publisher", NOW - 10 * DAY, ends_at=NOW + 30 * DAY),
        Grant("moderator", NOW - 10 * DAY, revoked_at=NOW - DAY),
        Grant("video-editor", NOW - 10 * DAY, ends_at=NOW - DAY),
    )
    assert subject.has_role(frozenset({"comms-publisher"}), NOW)
    assert not subject.has_role(frozenset({"video-editor", "moderator"}), NOW)


def test_only_unexpired_acknowledgements_are_loaded(engine: Engine) -> None:
    ada = _add_user(engine, "ada")
    _add(
        engine,
        _ack(ada, "social", NOW + 8 * timedelta(hours=1)),
        _ack(ada, "rich-media", NOW - timedelta(seconds=1)),
        _ack(ada, "rich-media", NOW),  # expires_at == now: no longer valid
    )

    subject = SqlEntitlements(engine).subject_for("ada", NOW)

    assert subject.acknowledgements == (
        Acknowledgement("social", NOW + 8 * timedelta(hours=1) - DAY, NOW + 8 * timedelta(hours=1)),
    )
    assert subject.acknowledged("social", NOW) is not None
    assert subject.acknowledged("rich-media", NOW) is None


def test_everything_at_once_takes_two_queries(engine: Engine, queries: list[str]) -> None:
    ada = _add_user(engine, "ada")
    other = _add_user(engine, "grace")
    _add(
        engine,
        _completion(ada, "social-media-basics", NOW - DAY),
        _completion(other, "social-media-basics", NOW - 2 * DAY),
        _grant(ada, "comms-publisher"),
        _grant(other, "moderator"),
        _ack(ada, "social", NOW + DAY),
        _ack(other, "social", NOW + DAY),
    )
    queries.clear()

    subject = SqlEntitlements(engine).subject_for("ada", NOW)

    assert subject.completions == {"social-media-basics": (NOW - DAY,)}
    assert [g.role for g in subject.grants] == ["comms-publisher"]
    assert [a.category for a in subject.acknowledgements] == ["social"]
    assert all(t.tzinfo is UTC for t in subject.completions["social-media-basics"])
    assert len(queries) == 2


def test_naive_now_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="naive"):
        SqlEntitlements(engine).subject_for("ada", NOW.replace(tzinfo=None))


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("postgresql://leeway:hunter2@127.0.0.1:1/leeway", id="postgres-closed-port"),
        pytest.param("sqlite:///{tmp}/no/such/dir/leeway.db", id="sqlite-missing-directory"),
    ],
)
def test_unreachable_database_is_store_unavailable(url: str, tmp_path: Path) -> None:
    engine = make_engine(url.format(tmp=tmp_path))
    try:
        with pytest.raises(StoreUnavailable, match="is unavailable") as caught:
            SqlEntitlements(engine).subject_for("ada", NOW)
    finally:
        engine.dispose()
    assert "hunter2" not in str(caught.value)
    assert caught.value.url is not None
    assert caught.value.url in str(caught.value)
