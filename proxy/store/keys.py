"""Secrets shared by every proxy instance, created once in the store by whichever comes first.

Also the dialect-aware "insert unless it exists" that makes such get-or-create race-safe.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from proxy.store.db import session_factory, store_errors
from proxy.store.models import Base, SigningKey

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from sqlalchemy import Executable
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

KEY_BYTES = 32
ACKNOWLEDGEMENT_KEY = "acknowledgement"


def insert_if_absent(
    dialect: str, model: type[Base], values: dict[str, Any], unique: Sequence[str]
) -> Executable:
    """INSERT `values` into `model`'s table unless a row with the same `unique` columns exists.

    ON CONFLICT DO NOTHING: two processes racing to create the same row both succeed, and
    the loser keeps the winner's row. SQLite and PostgreSQL only.
    """
    if dialect == "postgresql":
        return postgresql.insert(model).values(values).on_conflict_do_nothing(index_elements=unique)
    if dialect == "sqlite":
        return sqlite.insert(model).values(values).on_conflict_do_nothing(index_elements=unique)
    raise ValueError(f"database dialect {dialect!r} is not supported (expected sqlite, postgresql)")


def signing_key(
    engine: Engine,
    name: str = ACKNOWLEDGEMENT_KEY,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> bytes:
    """The secret called `name`, made of 32 random bytes the first time any instance asks.

    `StoreUnavailable` if the database fails: without the shared key, tokens signed by one
    instance would be refused by the others.
    """
    sessions = session_factory(engine)
    with store_errors(engine.url):
        with sessions() as session:
            existing = _secret(session, name)
        if existing is not None:
            return existing
        with sessions.begin() as session:
            values = {"name": name, "secret": secrets.token_bytes(KEY_BYTES), "created_at": now()}
            session.execute(insert_if_absent(engine.dialect.name, SigningKey, values, ["name"]))
        with sessions() as session:
            created = _secret(session, name)
    if created is None:  # pragma: no cover - the row was inserted or already there
        raise RuntimeError(f"signing key {name!r} missing right after it was created")
    return created


def _secret(session: Session, name: str) -> bytes | None:
    return session.scalar(select(SigningKey.secret).where(SigningKey.name == name))
