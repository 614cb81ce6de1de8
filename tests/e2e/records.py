"""What the proxy wrote to the store, read back by the tests."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import func, select

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
    """The decisions and Continues stored for `host` since `since`, by kind, user, action and
    reason: an event stands for `requests` identical ones."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as connection:
            key = (AccessEvent.kind, AccessEvent.username, AccessEvent.action, AccessEvent.reason)
            query = (
                select(*key, func.sum(AccessEvent.requests))
                .where(AccessEvent.host == host, AccessEvent.occurred_at >= since)
                .group_by(*key)
            )
            return Counter({(k, u, a, r): int(n) for k, u, a, r, n in connection.execute(query)})
    finally:
        engine.dispose()
