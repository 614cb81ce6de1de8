"""Role grants in the store: added with their period, revoked only while live."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from proxy.store.grants import add_grant, revoke_grants
from proxy.store.models import RoleGrant
from proxy.store.people import save_user, user_id

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.engine import Engine

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session, session.begin():
        save_user(session, "alice", NOW, {})
        session.flush()
        yield session


def grant(session: Session, role: str, starts: datetime, ends: datetime | None = None) -> None:
    alice = user_id(session, "alice")
    assert alice is not None
    add_grant(
        session, alice, role, starts_at=starts, ends_at=ends, reason="r", operator="hr", now=NOW
    )


@pytest.mark.parametrize(
    ("starts", "ends", "revoked"),
    [
        pytest.param(NOW - DAY, None, True, id="active, open-ended"),
        pytest.param(NOW - DAY, NOW + DAY, True, id="active, ending later"),
        pytest.param(NOW + DAY, None, True, id="future"),
        pytest.param(NOW - 9 * DAY, NOW - DAY, False, id="ended"),
        pytest.param(NOW - DAY, NOW, False, id="ends exactly now"),
    ],
)
def test_revoke_takes_live_grants_only(
    session: Session, starts: datetime, ends: datetime | None, revoked: bool
) -> None:
    grant(session, "comms-publisher", starts, ends)
    grant(session, "other-role", NOW - DAY)
    session.flush()
    alice = user_id(session, "alice")
    assert alice is not None
    done = revoke_grants(session, alice, "comms-publisher", operator="sec", now=NOW)
    assert len(done) == int(revoked)
    session.flush()
    rows = {g.role: g for g in session.scalars(select(RoleGrant))}
    assert (rows["comms-publisher"].revoked_at == NOW) is revoked
    assert rows["comms-publisher"].revoked_by == ("sec" if revoked else None)
    assert rows["other-role"].revoked_at is None


def test_a_revoked_grant_is_not_revoked_again(session: Session) -> None:
    grant(session, "comms-publisher", NOW - DAY)
    alice = user_id(session, "alice")
    assert alice is not None
    assert len(revoke_grants(session, alice, "comms-publisher", operator="a", now=NOW)) == 1
    session.flush()
    later = NOW + DAY
    assert revoke_grants(session, alice, "comms-publisher", operator="b", now=later) == []
