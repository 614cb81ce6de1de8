"""TZDateTime keeps instants exact and in UTC on both databases, and refuses naive ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import exc, select

from proxy.store.db import session_factory
from proxy.store.models import Acknowledgement, User

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

NEW_YORK_WINTER = timezone(timedelta(hours=-5))
KOLKATA = timezone(timedelta(hours=5, minutes=30))


def _add_user(engine: Engine, created_at: datetime) -> None:
    with session_factory(engine).begin() as session:
        session.add(User(username="ada", created_at=created_at))


@pytest.mark.parametrize("zone", [NEW_YORK_WINTER, KOLKATA, UTC], ids=["-05:00", "+05:30", "UTC"])
def test_aware_datetime_round_trips_as_the_same_instant_in_utc(
    engine: Engine, zone: timezone
) -> None:
    written = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=zone)
    _add_user(engine, written)

    with session_factory(engine)() as session:
        read = session.scalars(select(User.created_at)).one()

    assert read == written
    assert read.tzinfo is UTC
    assert read.replace(tzinfo=None) == written.astimezone(UTC).replace(tzinfo=None)


def test_naive_datetime_is_refused(engine: Engine) -> None:
    with pytest.raises(exc.StatementError, match="naive datetime 2026-03-01T09:30:00"):
        _add_user(engine, datetime(2026, 3, 1, 9, 30))

    with session_factory(engine)() as session:
        assert session.scalars(select(User)).all() == []


def test_comparison_in_sql_uses_the_instant_not_the_wall_clock(engine: Engine) -> None:
    # 12:00 UTC is 17:30 in Kolkata: compared as text, "17:30" > "12:00" would be wrong.
    expires = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    with session_factory(engine).begin() as session:
        user = User(username="ada", created_at=expires)
        session.add(user)
        session.flush()
        session.add(
            Acknowledgement(
                user_id=user.id, category="social", acknowledged_at=expires, expires_at=expires
            )
        )

    def live_at(now: datetime) -> int:
        with session_factory(engine)() as session:
            query = select(Acknowledgement.id).where(Acknowledgement.expires_at > now)
            return len(session.scalars(query).all())

    assert live_at(datetime(2026, 3, 1, 17, 29, tzinfo=KOLKATA)) == 1
    assert live_at(datetime(2026, 3, 1, 17, 30, tzinfo=KOLKATA)) == 0
    assert live_at(datetime(2026, 3, 1, 6, 59, tzinfo=NEW_YORK_WINTER)) == 1
    assert live_at(datetime(2026, 3, 1, 7, 0, tzinfo=NEW_YORK_WINTER)) == 0
