"""What the proxy wrote to the store, read back by the tests."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import select

from proxy.store.db import make_engine
from proxy.store.models import AccessEvent, Acknowledgement, User

type Key = tuple[str, str | None, str, str]  # an access event's kind, username, action, reason


def acknowledgements_of(db_url: str, username: str) -> list[str]:
    """The categories `username` has acknowledged, one per recorded Continue."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as connection:
            query = (
                select(Acknowledgement.category)
                .join(User, User.id == Acknowledgement.user_id)
                .where(User.username == username)
                .order_by(Acknowledgement.id)
            )
            return list(connection.scalars(query))
    finally:
        engine.dispose()


def events_on(db_url: str, host: str, since: datetime) -> Counter[Key]:
    """The access events stored for `host` since `since`, by kind, user, action and reason."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as connection:
            query = select(
                AccessEvent.kind, AccessEvent.username, AccessEvent.action, AccessEvent.reason
            ).where(AccessEvent.host == host, AccessEvent.occurred_at >= since)
            return Counter((k, u, a, r) for k, u, a, r in connection.execute(query))
    finally:
        engine.dispose()
