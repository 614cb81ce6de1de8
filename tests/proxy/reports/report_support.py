"""Rows for the report tests (people, training, grants, access events), added through the ORM."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from policy import parse_policy
from proxy.store.models import AccessEvent, RoleGrant, TrainingCompletion, User

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from policy import Policy

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)

POLICY = """\
[modules.basics]
title = "Basics"
url = "https://learning.example.org/basics"
valid_for = "365d"

[modules.induction]
title = "Induction"
url = "https://learning.example.org/induction"

[categories.social]
domains = ["facebook.com"]

[categories.video]
domains = ["youtube.com"]

[[rules]]
name = "trained"
categories = ["social", "video"]
training_all = ["basics"]
read = "allow"

[[rules]]
name = "everyone"
categories = ["social"]
read = "warn"
write = "block"
"""


EVENT: dict[str, str | None] = {  # a decision to allow `u` of finance onto social
    "kind": "decision",
    "username": "u",
    "department": "finance",
    "host": "www.facebook.com",
    "category": "social",
    "access": "read",
    "action": "allow",
    "reason": "rule_matched",
    "rule": "trained",
    "instance": "proxy-1",
}


def report_policy() -> Policy:
    return parse_policy(POLICY.encode(), source="test", label="report.toml")


class Rows:
    """Adds rows to one test database, each call in a transaction of its own."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def users(self, department: str | None, *names: str) -> None:
        with Session(self.engine) as session, session.begin():
            for name in names:
                session.add(User(username=name, department=department, created_at=NOW - 900 * DAY))

    def staff(self, department: str | None, prefix: str, count: int) -> list[str]:
        """`count` users named `prefix0`, `prefix1`, ...; their names."""
        names = [f"{prefix}{n}" for n in range(count)]
        self.users(department, *names)
        return names

    def deactivate(self, username: str, at: datetime) -> None:
        with Session(self.engine) as session, session.begin():
            session.get_one(User, self._id(session, username)).deactivated_at = at

    def completion(self, username: str, module: str, at: datetime) -> None:
        with Session(self.engine) as session, session.begin():
            session.add(
                TrainingCompletion(
                    user_id=self._id(session, username),
                    module=module,
                    completed_at=at,
                    source="test",
                    imported_at=at,
                )
            )

    def grant(
        self,
        username: str,
        role: str,
        starts: datetime,
        ends: datetime | None = None,
        revoked: datetime | None = None,
    ) -> None:
        with Session(self.engine) as session, session.begin():
            session.add(
                RoleGrant(
                    user_id=self._id(session, username),
                    role=role,
                    starts_at=starts,
                    ends_at=ends,
                    granted_by="hr",
                    granted_at=starts,
                    revoked_at=revoked,
                    revoked_by=None if revoked is None else "hr",
                )
            )

    def events(
        self, at: datetime, count: int = 1, /, *, requests: int = 1, **fields: str | None
    ) -> None:
        """`count` access events at `at`: EVENT, with `fields` instead where given; each
        stands for `requests` identical decisions."""
        values = EVENT | fields
        with Session(self.engine) as session, session.begin():
            for _ in range(count):
                event_id = str(uuid.uuid4())
                row = AccessEvent(event_id=event_id, occurred_at=at, requests=requests, **values)
                session.add(row)

    @staticmethod
    def _id(session: Session, username: str) -> int:
        return session.scalars(select(User.id).where(User.username == username)).one()
