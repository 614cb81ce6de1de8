"""The store's side of `leeway users sync`: the people it knows, the grants the directory made.

Plain values in, plain values out; every function takes a session the caller opened, and the
caller commits (one transaction for a whole sync). A grant made by the sync has
`granted_by = DIRECTORY` and the group's DN as its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import insert, select, update

from proxy.store.models import RoleGrant, User

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import datetime

    from sqlalchemy.orm import Session

DIRECTORY = "directory"
CHUNK = 5_000


@dataclass(frozen=True, slots=True)
class KnownUser:
    id: int
    username: str
    display_name: str | None
    department: str | None
    email: str | None
    directory_dn: str | None
    deactivated_at: datetime | None
    directory_id: str | None = None


@dataclass(frozen=True, slots=True)
class DirectoryGrant:
    id: int
    user_id: int
    role: str
    group: str  # the grant's reason
    ends_at: datetime | None
    revoked_at: datetime | None

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.ends_at is None or self.ends_at > now)


@dataclass(frozen=True, slots=True)
class UserValues:
    """What a sync writes of a user: the fields the directory gives."""

    username: str
    display_name: str | None
    department: str | None
    email: str | None
    directory_dn: str
    directory_id: str | None = None


def known_users(session: Session) -> list[KnownUser]:
    rows = session.execute(
        select(
            User.id,
            User.username,
            User.display_name,
            User.department,
            User.email,
            User.directory_dn,
            User.deactivated_at,
            User.directory_id,
        )
    )
    return [KnownUser(*row) for row in rows]


def directory_grants(session: Session, roles: Iterable[str]) -> list[DirectoryGrant]:
    """The grants of `roles` the directory made, ended and revoked ones too."""
    rows = session.execute(
        select(
            RoleGrant.id,
            RoleGrant.user_id,
            RoleGrant.role,
            RoleGrant.reason,
            RoleGrant.ends_at,
            RoleGrant.revoked_at,
        ).where(RoleGrant.granted_by == DIRECTORY, RoleGrant.role.in_(sorted(set(roles))))
    )
    return [DirectoryGrant(i, u, role, reason or "", e, r) for i, u, role, reason, e, r in rows]


def add_users(session: Session, users: Sequence[UserValues], now: datetime) -> dict[str, int]:
    """Insert `users`; returns username -> id of each."""
    params = [{**_values(user), "created_at": now} for user in users]
    for start in range(0, len(params), CHUNK):
        session.execute(insert(User), params[start : start + CHUNK])
    names = [user.username for user in users]
    ids: dict[str, int] = {}
    for start in range(0, len(names), CHUNK):
        chunk = names[start : start + CHUNK]
        rows = session.execute(select(User.username, User.id).where(User.username.in_(chunk)))
        ids.update((name, user_id) for name, user_id in rows)
    return ids


def update_users(session: Session, changes: Sequence[tuple[int, UserValues]]) -> None:
    """Set the directory's values (and clear `deactivated_at`) on existing users by id."""
    params = [{"id": user_id, **_values(user), "deactivated_at": None} for user_id, user in changes]
    for start in range(0, len(params), CHUNK):
        session.execute(update(User), params[start : start + CHUNK])


def free_names(session: Session, renames: Sequence[tuple[int, str]]) -> None:
    """Rename users (by id, to a name nobody has) and clear their e-mail addresses, so that
    others may take both: a former user retired for good (their records stay with them),
    or one that takes another's name or address later in the same transaction."""
    params = [{"id": user_id, "username": name, "email": None} for user_id, name in renames]
    for start in range(0, len(params), CHUNK):
        session.execute(update(User), params[start : start + CHUNK])


def deactivate_users(session: Session, user_ids: Sequence[int], now: datetime) -> None:
    for start in range(0, len(user_ids), CHUNK):
        chunk = user_ids[start : start + CHUNK]
        session.execute(update(User).where(User.id.in_(chunk)).values(deactivated_at=now))


def add_directory_grants(
    session: Session, grants: Sequence[tuple[int, str, str]], now: datetime
) -> None:
    """A grant of each (user id, role, group DN), from `now` until the sync ends it."""
    params = [
        {
            "user_id": user_id,
            "role": role,
            "reason": group,
            "starts_at": now,
            "granted_by": DIRECTORY,
            "granted_at": now,
        }
        for user_id, role, group in grants
    ]
    for start in range(0, len(params), CHUNK):
        session.execute(insert(RoleGrant), params[start : start + CHUNK])


def end_grants(session: Session, grant_ids: Sequence[int], now: datetime) -> None:
    for start in range(0, len(grant_ids), CHUNK):
        chunk = grant_ids[start : start + CHUNK]
        session.execute(update(RoleGrant).where(RoleGrant.id.in_(chunk)).values(ends_at=now))


def _values(user: UserValues) -> dict[str, str | None]:
    return {
        "username": user.username,
        "display_name": user.display_name,
        "department": user.department,
        "email": user.email,
        "directory_dn": user.directory_dn,
        "directory_id": user.directory_id,
    }
