"""Writing role grants: give a role for a period, with a reason; revoke it early.

Grants are never deleted: a revocation records when and by whom. The caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import or_, select

from proxy.store.models import RoleGrant

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.orm import Session


@dataclass(frozen=True, slots=True)
class GrantRecord:
    """A grant as the command line reports it, read before the session closes."""

    role: str
    starts_at: datetime
    ends_at: datetime | None
    reason: str | None
    granted_by: str


def add_grant(session: Session, user_id: int, grant: GrantRecord, *, now: datetime) -> GrantRecord:
    """Store `grant` for the user: its role from `starts_at` until `ends_at` (None: until
    revoked), given by `granted_by` at `now`."""
    session.add(
        RoleGrant(
            user_id=user_id,
            role=grant.role,
            starts_at=grant.starts_at,
            ends_at=grant.ends_at,
            reason=grant.reason,
            granted_by=grant.granted_by,
            granted_at=now,
        )
    )
    return grant


def revoke_grants(
    session: Session, user_id: int, role: str, *, operator: str, now: datetime
) -> list[GrantRecord]:
    """Revoke every grant of `role` to the user that is active now or starts later.

    Returns the grants revoked (none: there was nothing to revoke).
    """
    live = session.scalars(
        select(RoleGrant)
        .where(
            RoleGrant.user_id == user_id,
            RoleGrant.role == role,
            RoleGrant.revoked_at.is_(None),
            or_(RoleGrant.ends_at.is_(None), RoleGrant.ends_at > now),
        )
        .order_by(RoleGrant.starts_at)
    ).all()
    for grant in live:
        grant.revoked_at = now
        grant.revoked_by = operator
    return [GrantRecord(g.role, g.starts_at, g.ends_at, g.reason, g.granted_by) for g in live]
