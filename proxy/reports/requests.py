"""The report's access requests: how many per category and state, in groups of people only.

The group is the people who asked for access on a category in the window. A category asked
about by fewer than k people folds into `other` by the one folding rule of reports and
metrics (`proxy.privacy.fold_departments`); a group still under k distinct people (counted
again, as one person may have asked on several of its categories) shows its size, not its
figures. Requests are those made in the window, in the state they are in now.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, func, select

from proxy.privacy import OTHER, fold_departments
from proxy.store.access_requests import State
from proxy.store.models import AccessRequest, User

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from sqlalchemy.orm import Session


@dataclass(frozen=True, slots=True)
class RequestCount:
    """Requests of a category group in one state; `count` is None for a group too small."""

    category: str
    state: str
    count: int | None
    people: int


def request_counts(
    session: Session, *, since: datetime, until: datetime, department: str | None, k: int
) -> tuple[RequestCount, ...]:
    """Per category group (named ones by name, then `other`) and state, as the docstring says."""
    where = _window(since, until, department)
    per_category = _people_per_category(session, where)
    groups = fold_departments(per_category, k)
    members: dict[str, list[str]] = {}
    for category, group in groups.items():
        members.setdefault(group, []).extend([] if category is None else [category])
    counts: Counter[tuple[str, str]] = Counter()
    for (category, state), n in _per_category_and_state(session, where).items():
        counts[groups[category], state] += n
    result: list[RequestCount] = []
    for group in sorted(members, key=lambda group: (group == OTHER, group)):
        people = _people_in(session, where, members[group])
        shown = people >= k
        result += [
            RequestCount(group, state.value, counts[group, state.value] if shown else None, people)
            for state in State
        ]
    return tuple(result)


def _window(since: datetime, until: datetime, department: str | None) -> list[ColumnElement[bool]]:
    where = [AccessRequest.requested_at >= since, AccessRequest.requested_at < until]
    if department is not None:
        where.append(User.department == department)
    return where


def _people_per_category(
    session: Session, where: list[ColumnElement[bool]]
) -> dict[str | None, int]:  # typed as fold_departments takes it; a category is never None
    query = (
        select(AccessRequest.category, func.count(AccessRequest.user_id.distinct()))
        .join(User, User.id == AccessRequest.user_id)
        .where(*where)
        .group_by(AccessRequest.category)
    )
    return {category: int(n) for category, n in session.execute(query)}


def _per_category_and_state(
    session: Session, where: list[ColumnElement[bool]]
) -> dict[tuple[str, str], int]:
    query = (
        select(AccessRequest.category, AccessRequest.state, func.count())
        .join(User, User.id == AccessRequest.user_id)
        .where(*where)
        .group_by(AccessRequest.category, AccessRequest.state)
    )
    return {(category, state): int(n) for category, state, n in session.execute(query)}


def _people_in(
    session: Session, where: list[ColumnElement[bool]], categories: Iterable[str]
) -> int:
    query = (
        select(func.count(AccessRequest.user_id.distinct()))
        .join(User, User.id == AccessRequest.user_id)
        .where(*where, AccessRequest.category.in_(list(categories)))
    )
    return int(session.scalar(query) or 0)
