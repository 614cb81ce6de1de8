"""Writing and finding people: users, and the client addresses that identify them.

Every function takes a session the caller opened; the caller commits.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from proxy.store.models import ClientAddress, User

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from datetime import datetime

    from sqlalchemy.orm import Session

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Change = Literal["created", "updated", "unchanged"]
CHUNK = 20_000
EDITABLE = frozenset({"display_name", "department", "email"})


@dataclass(frozen=True, slots=True)
class Person:
    """A user's descriptive fields, as the import compares them."""

    username: str
    display_name: str | None
    department: str | None
    email: str | None = None


def user_id(session: Session, username: str) -> int | None:
    return session.scalar(select(User.id).where(User.username == username))


def stored_username(session: Session, name: str) -> str | None:
    """The stored spelling of user `name`: the exact one, else the one user whose name
    differs only in case (`Alice` signs in as `alice`); None when unknown or ambiguous."""
    if session.scalar(select(User.username).where(User.username == name)) is not None:
        return name
    query = select(User.username).where(func.lower(User.username) == name.lower()).limit(2)
    found = session.scalars(query).all()
    return found[0] if len(found) == 1 else None


def deactivated_since(session: Session, username: str) -> datetime | None:
    """When `username` was deactivated (no longer in the directory); None: active or unknown."""
    return session.scalar(select(User.deactivated_at).where(User.username == username))


def email_holder(session: Session, email: str) -> str | None:
    """The username whose e-mail address is `email` (lower-case), if any."""
    return session.scalar(select(User.username).where(User.email == email))


def user_ids(session: Session, only: Sequence[str] | None = None) -> dict[str, int]:
    """username -> id for every user (or those in `only`): one query, loaded once per import."""
    query = select(User.username, User.id)
    if only is not None:
        query = query.where(User.username.in_(only))
    return dict(session.execute(query).all())


def people(session: Session) -> dict[str, Person]:
    rows = session.execute(select(User.username, User.display_name, User.department, User.email))
    return {name: Person(name, display, dept, email) for name, display, dept, email in rows}


def upsert_users(session: Session, rows: Sequence[Person], now: datetime) -> None:
    """Insert new users and update the names and departments of existing ones, in chunks."""
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        params = [
            {
                "username": p.username,
                "display_name": p.display_name,
                "department": p.department,
                "email": p.email,
                "created_at": now,
            }
            for p in chunk
        ]
        session.execute(_upsert(session), params)


def release_emails(session: Session, usernames: Sequence[str]) -> None:
    """Clear these users' e-mail addresses, so that an import can move addresses between users.

    The address is unique, checked row by row: without this, two users who swap addresses
    would collide half-way through the upsert.
    """
    for start in range(0, len(usernames), CHUNK):
        chunk = usernames[start : start + CHUNK]
        session.execute(update(User).where(User.username.in_(chunk)).values(email=None))


def _upsert(session: Session) -> sqlite.Insert | postgresql.Insert:
    """INSERT ... ON CONFLICT (username) DO UPDATE, in the dialect of the session's database."""
    insert = postgresql.insert if _dialect(session) == "postgresql" else sqlite.insert
    statement = insert(User)
    return statement.on_conflict_do_update(
        index_elements=[User.username],
        set_={
            "display_name": statement.excluded.display_name,
            "department": statement.excluded.department,
            "email": statement.excluded.email,
        },
    )


def create_missing_users(session: Session, usernames: Iterable[str], now: datetime) -> None:
    """Create bare users (no name, no department) for `usernames` not yet in the store."""
    insert = postgresql.insert if _dialect(session) == "postgresql" else sqlite.insert
    statement = insert(User).on_conflict_do_nothing(index_elements=[User.username])
    params = [{"username": name, "created_at": now} for name in usernames]
    for start in range(0, len(params), CHUNK):
        session.execute(statement, params[start : start + CHUNK])


def save_user(
    session: Session, username: str, now: datetime, changes: Mapping[str, str | None]
) -> Change:
    """Add `username`, or set the fields in `changes` (display_name, department) on them."""
    unknown = set(changes) - EDITABLE
    if unknown:
        raise ValueError(f"cannot change {', '.join(sorted(unknown))} of a user")
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        session.add(User(username=username, created_at=now, **changes))
        return "created"
    before = (user.display_name, user.department, user.email)
    for field, value in changes.items():
        setattr(user, field, value)
    after = (user.display_name, user.department, user.email)
    return "unchanged" if before == after else "updated"


def assign_network(session: Session, network: Network, user: int, now: datetime) -> str | None:
    """Point `network` at user id `user`; returns the user it pointed at before, if another."""
    text = str(network)
    row = session.scalar(select(ClientAddress).where(ClientAddress.network == text))
    if row is None:
        session.add(ClientAddress(network=text, user_id=user, created_at=now))
        return None
    if row.user_id == user:
        return None
    previous = session.scalar(select(User.username).where(User.id == row.user_id))
    row.user_id = user
    row.created_at = now
    return previous


def user_for_address(session: Session, ip: str | Address) -> str | None:
    """The user whose client network contains `ip`; the longest prefix wins.

    One indexed query over the (at most 129) networks that can contain the address.
    """
    address = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # a dual-stack socket reports IPv4 clients this way
    candidates = {
        str(ipaddress.ip_network((address, prefix), strict=False)): prefix
        for prefix in range(address.max_prefixlen + 1)
    }
    rows = session.execute(
        select(ClientAddress.network, User.username)
        .join(User, User.id == ClientAddress.user_id)
        .where(ClientAddress.network.in_(candidates))
    )
    best = max(rows, key=lambda row: candidates[row[0]], default=None)
    return best[1] if best is not None else None


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name
