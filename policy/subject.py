"""What the engine knows about a person: a frozen snapshot of entitlements.

The store builds a `Subject` from the database; the engine only reads it. A user the
proxy cannot identify, or one the store does not know, is `Subject.anonymous()`; one
built while the store could not be read says so (`degraded`), and every categorised
decision on it has the reason `store_unavailable`.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Grant:
    """A role given to a user for a period; active while started, not ended, not revoked."""

    role: str
    starts_at: datetime
    ends_at: datetime | None = None
    revoked_at: datetime | None = None

    def active_at(self, now: datetime) -> bool:
        if now < self.starts_at:
            return False
        if self.ends_at is not None and now >= self.ends_at:
            return False
        return self.revoked_at is None or now < self.revoked_at


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """A Continue click: the category is open from `acknowledged_at` until `expires_at`."""

    category: str
    acknowledged_at: datetime
    expires_at: datetime

    def valid_at(self, now: datetime) -> bool:
        return self.acknowledged_at <= now < self.expires_at


@dataclass(frozen=True, slots=True)
class Subject:
    """One user's entitlements: completions per module (sorted), grants, acknowledgements.

    `degraded`: the store failed and nothing usable was cached, so this is the fail
    mode's subject (no training, no roles), not what the store holds.
    """

    username: str | None
    known: bool = False
    department: str | None = None
    completions: dict[str, tuple[datetime, ...]] = field(default_factory=dict)
    grants: tuple[Grant, ...] = ()
    acknowledgements: tuple[Acknowledgement, ...] = ()
    degraded: bool = False

    @classmethod
    def anonymous(cls, username: str | None = None, *, degraded: bool = False) -> Subject:
        """An unidentified user, or one the store does not know: no training, no roles.
        `degraded`: decided so because the store could not be read."""
        return cls(username=username, known=False, degraded=degraded)

    def latest_completion(self, module: str, now: datetime) -> datetime | None:
        """The most recent completion of `module` at or before `now`, if any."""
        times = self.completions.get(module)
        if not times:
            return None
        i = bisect_right(times, now)
        return times[i - 1] if i else None

    def has_role(self, roles: frozenset[str], now: datetime) -> bool:
        return any(g.role in roles and g.active_at(now) for g in self.grants)

    def acknowledged(self, category: str, now: datetime) -> Acknowledgement | None:
        """The acknowledgement of `category` valid at `now` that lasts longest, if any."""
        valid = [a for a in self.acknowledgements if a.category == category and a.valid_at(now)]
        return max(valid, key=lambda a: a.expires_at, default=None)


class EntitlementSource(Protocol):
    """Where subjects come from: the SQLAlchemy store in production, a dict in tests."""

    def subject_for(self, username: str, now: datetime) -> Subject:
        """The entitlements of `username` relevant at `now` (anonymous if unknown)."""
        ...
