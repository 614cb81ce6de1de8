"""Tell every proxy of the fleet what changed: PostgreSQL NOTIFY inside the writer's transaction.

PostgreSQL delivers notifications when the transaction commits, and never if it rolls back,
so a refused import tells nobody. SQLite has no listeners: there the calls do nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy.orm import Session

CHANNEL = "leeway_changes"
ALL = "all"  # reload everybody's entitlements
ADDRESSES = "addresses"  # reload the client address map
USER_PREFIX = "user:"  # reload this user's entitlements
MAX_USERS = 100  # more users than this in one change: one `all` instead
MAX_PAYLOAD = 7999  # bytes: PostgreSQL refuses a payload of 8000 or more


def notify_changed(session: Session, usernames: Iterable[str] | None) -> None:
    """Say that the entitlements of `usernames` (None: of everybody) changed, at commit."""
    payloads = _user_payloads(usernames)
    for payload in payloads:
        _notify(session, payload)


def notify_addresses(session: Session) -> None:
    """Say that the client address map changed, at commit."""
    _notify(session, ADDRESSES)


def _user_payloads(usernames: Iterable[str] | None) -> list[str]:
    if usernames is None:
        return [ALL]
    payloads = sorted({f"{USER_PREFIX}{name}" for name in usernames})
    too_long = any(len(p.encode()) > MAX_PAYLOAD for p in payloads)
    return [ALL] if len(payloads) > MAX_USERS or too_long else payloads


def _notify(session: Session, payload: str) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_notify(CHANNEL, payload)))
