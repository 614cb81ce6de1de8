"""What the store forgets with the audit trail: acknowledgements that ended and access
requests that were decided, before the cut-off; never a pending request nor a grant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from proxy.store.access_requests import approve, ask, deny
from proxy.store.acks import record_acknowledgement
from proxy.store.db import session_factory
from proxy.store.models import AccessRequest, Acknowledgement, RoleGrant
from proxy.store.people import save_user
from proxy.store.records_retention import RecordsPruned, prune_records

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
KEPT = timedelta(days=90)


def seed(engine: Engine, now: datetime = NOW) -> None:
    """alice's acknowledgements and requests, some decided or ended long before `now`."""
    with session_factory(engine).begin() as session:
        save_user(session, "alice", now - 400 * DAY, {})
        for category, ended in (("social", 100), ("rich-media", 10), ("news", -5)):
            record_acknowledgement(
                session,
                username="alice",
                category=category,
                acknowledged_at=now - (ended + 7) * DAY,
                expires_at=now - ended * DAY,
                client_address=None,
            )
        ancient = now - 200 * DAY
        for category, role, asked_days_ago, decided_days_ago, approved in (
            ("social", "comms-publisher", 120, 100, True),
            ("rich-media", "video-team", 110, 100, False),
            ("news", "press", 20, 10, False),
        ):
            asked = now - asked_days_ago * DAY
            made = ask(
                session,
                username="alice",
                category=category,
                role=role,
                justification="for the press office",
                now=asked,
            )
            decided = now - decided_days_ago * DAY
            number = made.request.id
            if approved:
                approve(session, number, operator="it", now=decided)
            else:
                deny(session, number, operator="it", reason="not now", now=decided)
        ask(
            session,
            username="alice",
            category="social",
            role="comms-publisher",
            justification="asked again, never decided",
            now=ancient,
        )


def test_ended_acknowledgements_and_decided_requests_go_pending_ones_and_grants_stay(
    engine: Engine,
) -> None:
    seed(engine)
    with session_factory(engine).begin() as session:
        pruned = prune_records(session, older_than=KEPT, now=NOW)
    assert pruned == RecordsPruned(acknowledgements=1, requests=2)
    with session_factory(engine)() as session:
        acks = sorted(session.scalars(select(Acknowledgement.category)))
        requests = sorted(session.execute(select(AccessRequest.role, AccessRequest.state)).all())
        grants = list(session.scalars(select(RoleGrant.reason)))
    assert acks == ["news", "rich-media"]
    assert requests == [("comms-publisher", "pending"), ("press", "denied")]
    assert len(grants) == 1 and (grants[0] or "").startswith("access request #")
    with session_factory(engine).begin() as session:
        assert prune_records(session, older_than=KEPT, now=NOW) == RecordsPruned(0, 0)
