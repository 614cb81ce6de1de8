"""The SQL behind `leeway report`: access events and training, grouped by the database.

Department sizes and valid completions, which metrics use too, are in `proxy.store.queries`.
Each query returns a few grouped rows (categories, actions, days, departments, modules),
never one row per event or per person. Times are UTC; a day is a UTC calendar day.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, String, and_, case, func, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from proxy.store.models import AccessEvent, RoleGrant, User

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy import Subquery
    from sqlalchemy.orm import Session
    from sqlalchemy.sql.compiler import SQLCompiler

type Counts[K] = dict[K, int]


class utc_day(FunctionElement[str]):
    """The UTC calendar day of a timestamp column, as `YYYY-MM-DD` text.

    Rendered without bound parameters, so that the same expression may appear in both
    SELECT and GROUP BY on PostgreSQL.
    """

    type = String()
    inherit_cache = True
    name = "utc_day"


@compiles(utc_day, "sqlite")
def _sqlite_day(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    # TZDateTime stores naive UTC text on SQLite: `YYYY-MM-DD HH:MM:SS.ffffff`.
    return f"date({compiler.process(element.clauses, **kw)})"


@compiles(utc_day, "postgresql")
def _postgres_day(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    return f"to_char(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


def event_filter(
    since: datetime, until: datetime, department: str | None
) -> list[ColumnElement[bool]]:
    """Events in [since, until), of one department when it is given."""
    window = [AccessEvent.occurred_at >= since, AccessEvent.occurred_at < until]
    if department is not None:
        window.append(AccessEvent.department == department)
    return window


def _decisions(where: list[ColumnElement[bool]]) -> list[ColumnElement[bool]]:
    return [*where, AccessEvent.kind == "decision"]


def _requests() -> ColumnElement[int]:
    """How many decisions the rows stand for: each row counts its identical repeats."""
    return func.sum(AccessEvent.requests)


def decision_counts(session: Session, where: list[ColumnElement[bool]]) -> Counts[tuple[str, str]]:
    """(category, action) -> decisions."""
    query = (
        select(AccessEvent.category, AccessEvent.action, _requests())
        .where(*_decisions(where))
        .group_by(AccessEvent.category, AccessEvent.action)
    )
    return {(category, action): n for category, action, n in session.execute(query)}


def continue_counts(
    session: Session, where: list[ColumnElement[bool]]
) -> dict[str, tuple[int, int]]:
    """category -> (warned, continued), counted in distinct (user, category, day).

    Warned: a warn decision or an acknowledgement (Continue is only on a warning page).
    Continued: an acknowledgement. Events without a username cannot be told apart: left out.
    """
    acknowledged = AccessEvent.kind == "acknowledgement"
    warned = and_(AccessEvent.kind == "decision", AccessEvent.action == "warn")
    day = utc_day(AccessEvent.occurred_at)
    triples = (
        select(
            AccessEvent.category.label("category"),
            func.max(case((acknowledged, 1), else_=0)).label("continued"),
        )
        .where(*where, AccessEvent.username.is_not(None), or_(warned, acknowledged))
        .group_by(AccessEvent.category, AccessEvent.username, day)
        .subquery()
    )
    query = select(
        triples.c.category, func.count(), func.coalesce(func.sum(triples.c.continued), 0)
    ).group_by(triples.c.category)
    rows = session.execute(query)
    return {category: (int(n), int(continued)) for category, n, continued in rows}


def block_reasons(
    session: Session, where: list[ColumnElement[bool]], limit: int
) -> list[tuple[str, str | None, int]]:
    """The most frequent (reason, rule) of block decisions, most frequent first."""
    count = _requests().label("count")
    query = (
        select(AccessEvent.reason, AccessEvent.rule, count)
        .where(*_decisions(where), AccessEvent.action == "block")
        .group_by(AccessEvent.reason, AccessEvent.rule)
        .order_by(count.desc(), AccessEvent.reason, func.coalesce(AccessEvent.rule, ""))
        .limit(limit)
    )
    return [(reason, rule, n) for reason, rule, n in session.execute(query)]


def daily_counts(session: Session, where: list[ColumnElement[bool]]) -> Counts[tuple[date, str]]:
    """(UTC day, action) -> decisions."""
    day = utc_day(AccessEvent.occurred_at)
    query = (
        select(day, AccessEvent.action, _requests())
        .where(*_decisions(where))
        .group_by(day, AccessEvent.action)
    )
    rows = session.execute(query)
    return {(date.fromisoformat(text), action): n for text, action, n in rows}


def people(department: str | None, manager_role: str, now: datetime) -> Subquery:
    """Active users (of one department when given): id, department, and whether they hold
    an active grant of `manager_role` at `now` (started, not ended, not revoked)."""
    managers = (
        select(RoleGrant.user_id)
        .where(
            RoleGrant.role == manager_role,
            RoleGrant.starts_at <= now,
            or_(RoleGrant.ends_at.is_(None), RoleGrant.ends_at > now),
            or_(RoleGrant.revoked_at.is_(None), RoleGrant.revoked_at > now),
        )
        .distinct()
        .subquery()
    )
    query = select(
        User.id.label("user_id"),
        User.department.label("department"),
        managers.c.user_id.is_not(None).label("manager"),
    ).outerjoin(managers, managers.c.user_id == User.id)
    # Someone the directory no longer has (deactivated by `users sync`) is staff no more.
    query = query.where(User.deactivated_at.is_(None))
    if department is not None:
        query = query.where(User.department == department)
    return query.subquery()


def trained_by(session: Session, group: str, who: Subquery, valid: Subquery) -> Counts[Any]:
    """(value of `who.c[group]`, module) -> users with a valid completion."""
    column = who.c[group]
    query = (
        select(column, valid.c.module, func.count())
        .select_from(who)
        .join(valid, valid.c.user_id == who.c.user_id)
        .group_by(column, valid.c.module)
    )
    return {(value, module): n for value, module, n in session.execute(query)}


def sizes_by(session: Session, group: str, who: Subquery) -> Counts[Any]:
    """Value of `who.c[group]` -> users."""
    column = who.c[group]
    query = select(column, func.count()).group_by(column)
    return dict(session.execute(query).all())
