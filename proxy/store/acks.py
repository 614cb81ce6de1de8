"""Write a Continue click to the store: the acknowledgement, and its user if the store had none.

A user identified by the proxy (proxy auth, a trusted header) may be missing from the store;
the acknowledgement still needs a user row to belong to, so one is made with the name alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from proxy.store.keys import insert_if_absent
from proxy.store.models import Acknowledgement, User
from proxy.store.notify import notify_changed

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.orm import Session


def record_acknowledgement(
    session: Session,
    *,
    username: str,
    category: str,
    acknowledged_at: datetime,
    expires_at: datetime,
    client_address: str | None,
) -> None:
    """Add the acknowledgement of `category` by `username`, creating the user when unknown.

    The caller's session commits; two instances creating the same user at once both succeed.
    """
    user_id = _user_id(session, username, created_at=acknowledged_at)
    session.add(
        Acknowledgement(
            user_id=user_id,
            category=category,
            acknowledged_at=acknowledged_at,
            expires_at=expires_at,
            client_address=client_address,
        )
    )
    notify_changed(session, [username])  # the other instances honour it at once


def _user_id(session: Session, username: str, *, created_at: datetime) -> int:
    """The id of `username`, after inserting a bare user row if there was none."""
    query = select(User.id).where(User.username == username)
    user_id = session.scalar(query)
    if user_id is not None:
        return user_id
    dialect = session.get_bind().dialect.name
    values = {"username": username, "created_at": created_at}
    session.execute(insert_if_absent(dialect, User, values, ["username"]))
    return session.scalars(query).one()
