"""Build a user's `Subject` from the store: the SQLAlchemy `EntitlementSource`.

Two queries per call: the user row, then completions, grants and live acknowledgements. A
deactivated user (`leeway users sync` no longer found them) is decided as an unknown one.
Both statements are built once, with bound parameters, and run on a plain connection: the
proxy reloads an active user every few seconds, and building the statements and their
cache keys anew, and an ORM session, cost more than the queries themselves.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from sqlalchemy import Integer, bindparam, literal, select, type_coerce, union_all
from sqlalchemy import null as sql_null

from policy.subject import Acknowledgement, Grant, Subject
from proxy.store.db import store_errors
from proxy.store.models import Acknowledgement as AckRow
from proxy.store.models import RoleGrant, TrainingCompletion, User
from proxy.store.types import TZDateTime

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from sqlalchemy import CompoundSelect, Row
    from sqlalchemy.engine import Engine

COMPLETION, GRANT, ACKNOWLEDGEMENT = "c", "g", "a"
# (kind, key, t1, t2, t3): module/completed_at, role/starts/ends/revoked, category/at/expires
type EntitlementRow = Row[str, str, datetime, datetime | None, datetime | None]


class SqlEntitlements:
    """Entitlements read from the database; every call opens and closes its own session."""

    def __init__(self, engine: Engine) -> None:
        self._url = engine.url
        self._engine = engine

    def subject_for(self, username: str, now: datetime) -> Subject:
        """The entitlements of `username` at `now`; `StoreUnavailable` if the database fails."""
        if now.utcoffset() is None:
            raise ValueError(f"naive datetime {now.isoformat()} given as now: use UTC")
        with store_errors(self._url), self._engine.connect() as connection:
            user = connection.execute(_USER, {"username": username}).one_or_none()
            if user is None or user.deactivated_at is not None:
                # No longer in the directory: decided as a user the store does not know.
                return Subject.anonymous(username)
            rows = connection.execute(_ENTITLEMENTS, {"user_id": user.id, "now": now}).all()
            return _subject(username, user.department, rows)


def _entitlements_query() -> CompoundSelect[str, str, datetime, datetime | None, datetime | None]:
    """One UNION ALL: (kind, key, t1, t2, t3) rows, `kind` saying which table each came from;
    parameters `user_id` and `now`."""
    user_id = bindparam("user_id", type_=Integer())
    now = bindparam("now", type_=TZDateTime())
    no_time = type_coerce(sql_null(), TZDateTime())
    completions = select(
        literal(COMPLETION).label("kind"),
        TrainingCompletion.module.label("key"),
        TrainingCompletion.completed_at.label("t1"),
        no_time.label("t2"),
        no_time.label("t3"),
    ).where(TrainingCompletion.user_id == user_id)
    grants = select(
        literal(GRANT),
        RoleGrant.role,
        RoleGrant.starts_at,
        RoleGrant.ends_at,
        RoleGrant.revoked_at,
    ).where(RoleGrant.user_id == user_id)
    acknowledgements = select(
        literal(ACKNOWLEDGEMENT),
        AckRow.category,
        AckRow.acknowledged_at,
        AckRow.expires_at,
        no_time,
    ).where(AckRow.user_id == user_id, AckRow.expires_at > now)
    return union_all(completions, grants, acknowledgements)


_USER = select(User.id, User.department, User.deactivated_at).where(
    User.username == bindparam("username")
)
_ENTITLEMENTS = _entitlements_query()


def _subject(username: str, department: str | None, rows: Iterable[EntitlementRow]) -> Subject:
    """Frozen values from the rows: completions sorted per module, grants, acknowledgements."""
    completions: defaultdict[str, list[datetime]] = defaultdict(list)
    grants: list[Grant] = []
    acks: list[Acknowledgement] = []
    for kind, key, t1, t2, t3 in rows:
        if kind == COMPLETION:
            completions[key].append(t1)
        elif kind == GRANT:
            grants.append(Grant(role=key, starts_at=t1, ends_at=t2, revoked_at=t3))
        else:
            assert t2 is not None  # expires_at is NOT NULL
            acks.append(Acknowledgement(category=key, acknowledged_at=t1, expires_at=t2))
    grants.sort(key=lambda g: (g.role, g.starts_at))
    acks.sort(key=lambda a: (a.category, a.expires_at))
    return Subject(
        username=username,
        known=True,
        department=department,
        completions={module: tuple(sorted(times)) for module, times in completions.items()},
        grants=tuple(grants),
        acknowledgements=tuple(acks),
    )
