"""What the proxy wrote to the store, read back by the tests."""

from __future__ import annotations

from sqlalchemy import select

from proxy.store.db import make_engine
from proxy.store.models import Acknowledgement, User


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
