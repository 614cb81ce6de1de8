"""Counts over people and training that metrics and reports share: one SELECT for each.

Grouped rows only, never one row per person; deactivated users (no longer in the directory)
are not counted. Validity bounds are computed in Python
(`latest > now - valid_for`), so the SQL compares timestamps and reads the same everywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import and_, case, func, literal, or_, select

from proxy.store.models import TrainingCompletion, User

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime, timedelta

    from sqlalchemy import ColumnElement, Select, Subquery
    from sqlalchemy.orm import Session

type Modules = Mapping[str, timedelta | None]


def department_sizes(session: Session) -> dict[str | None, int]:
    """Active users per department (None: users without one)."""
    query = (
        select(User.department, func.count())
        .where(User.deactivated_at.is_(None))
        .group_by(User.department)
    )
    return {department: int(size) for department, size in session.execute(query).all()}


def valid_completions(modules: Modules, now: datetime) -> Subquery:
    """(user_id, module, at) whose latest completion `at` (at or before `now`) of a module
    is still valid: now < at + valid_for, that is at > now - valid_for. Not empty `modules`."""
    latest = (
        select(
            TrainingCompletion.user_id,
            TrainingCompletion.module,
            func.max(TrainingCompletion.completed_at).label("at"),
        )
        .where(TrainingCompletion.completed_at <= now, TrainingCompletion.module.in_(modules))
        .group_by(TrainingCompletion.user_id, TrainingCompletion.module)
        .subquery()
    )
    valid = [
        latest.c.module == key
        if valid_for is None
        else and_(latest.c.module == key, latest.c.at > now - valid_for)
        for key, valid_for in modules.items()
    ]
    return select(latest.c.user_id, latest.c.module, latest.c.at).where(or_(*valid)).subquery()


def coverage(modules: Modules, notice: timedelta, now: datetime) -> Select[str, int, int]:
    """Per module with a valid completion: (module, users, those expiring within `notice`).

    Expiring: expires - now <= notice, as the engine's renewal notice has it. Not empty
    `modules`; a module nobody holds validly has no row.
    """
    valid = valid_completions(modules, now)
    expiring = [
        and_(valid.c.module == key, valid.c.at <= now - valid_for + notice)
        for key, valid_for in modules.items()
        if valid_for is not None
    ]
    return (
        select(valid.c.module, func.count(), _count(expiring))
        .join(User, User.id == valid.c.user_id)
        .where(User.deactivated_at.is_(None))  # no longer in the directory: not counted
        .group_by(valid.c.module)
    )


def _count(conditions: list[ColumnElement[bool]]) -> ColumnElement[int]:
    if not conditions:
        return literal(0)
    return func.sum(case((or_(*conditions), 1), else_=0))
