"""Reports for security teams: what the proxy decided and who is trained, in groups only.

A report never names a person or a host. Privacy rules, with k = `Scope.min_group`:

- A department with fewer than k users is reported as `other`, with the users who have no
  department. While `other` would hold between 1 and k-1 users, the smallest named
  department folds into it too, so that `other` cannot be worked out by subtraction
  (`proxy.privacy.fold_departments`, the rule of the metrics' department label too).
  A group still under k users (a whole office under k) shows its size, not its figures.
- The role model compares managers with the other staff; when either group has between
  1 and k-1 users, neither group's figures are shown (one would give away the other).
- A report on one department is refused unless it has at least k users.

The continue rate counts distinct (user, category, UTC day): a day on which a user saw a
warning for a category (a warn decision, or an acknowledgement: Continue is only on a
warning page) is one warned day; it is a continued day if the user clicked Continue for
that category that day. The share is continued days / warned days. Counting events instead
would mislead: one warned page load brings many warned images and scripts (plain 403s),
and after Continue the category is open, so a user is warned about once a day whatever
they do. Events without a username (unidentified users) are left out of this figure.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from proxy.privacy import OTHER, fold_departments
from proxy.reports import queries as q
from proxy.reports.requests import RequestCount, request_counts
from proxy.store.queries import department_sizes, valid_completions

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from sqlalchemy.orm import Session

    from policy import Policy

type Modules = Mapping[str, timedelta | None]

ACTIONS = ("allow", "warn", "block")
MANAGERS, STAFF = "managers", "staff"
TOP_BLOCK_REASONS = 10


class ReportRefused(ValueError):
    """A report that would single people out, or that names an unknown department."""


@dataclass(frozen=True, slots=True)
class Scope:
    """What a report covers: events in [since, until), training as at `until`."""

    since: datetime
    until: datetime
    department: str | None = None
    min_group: int = 5
    manager_role: str = "manager"


def share(part: int | None, whole: int) -> float | None:
    """`part / whole`, or None when there is nothing to divide (or the part is hidden)."""
    return None if part is None or whole == 0 else part / whole


@dataclass(frozen=True, slots=True)
class DecisionCount:
    category: str
    action: str
    count: int


@dataclass(frozen=True, slots=True)
class ContinueRate:
    category: str
    warned: int
    continued: int

    @property
    def share(self) -> float | None:
        return share(self.continued, self.warned)


@dataclass(frozen=True, slots=True)
class BlockReason:
    reason: str
    rule: str | None
    count: int


@dataclass(frozen=True, slots=True)
class Coverage:
    """Users of a group (a department, or managers and staff) with a valid completion of a
    module; `trained` is None when the group is too small to show."""

    module: str
    group: str
    users: int
    trained: int | None

    @property
    def share(self) -> float | None:
        return share(self.trained, self.users)


@dataclass(frozen=True, slots=True)
class DayCount:
    day: date
    action: str
    count: int


@dataclass(frozen=True, slots=True)
class Report:
    scope: Scope
    decisions: tuple[DecisionCount, ...]
    continue_rate: tuple[ContinueRate, ...]
    block_reasons: tuple[BlockReason, ...]
    coverage: tuple[Coverage, ...]
    role_model: tuple[Coverage, ...]
    trend: tuple[DayCount, ...]
    requests: tuple[RequestCount, ...] = ()  # access requests: proxy.reports.requests


def build_report(session: Session, policy: Policy, scope: Scope) -> Report:
    """The report for `scope`; `ReportRefused` if its department would single people out."""
    sizes = department_sizes(session)
    check_department(sizes, scope)
    where = q.event_filter(scope.since, scope.until, scope.department)
    decisions = q.decision_counts(session, where)
    continues = q.continue_counts(session, where)
    categories = sorted({*policy.categories, *(c for c, _ in decisions), *continues})
    actions = _actions(action for _, action in decisions)
    modules = {key: policy.modules[key].valid_for for key in sorted(policy.modules)}
    k = scope.min_group
    return Report(
        scope=scope,
        decisions=tuple(
            DecisionCount(category, action, decisions.get((category, action), 0))
            for category in categories
            for action in actions
        ),
        continue_rate=tuple(
            ContinueRate(category, *continues.get(category, (0, 0))) for category in categories
        ),
        block_reasons=tuple(
            BlockReason(*row) for row in q.block_reasons(session, where, TOP_BLOCK_REASONS)
        ),
        coverage=_coverage(session, scope, sizes, modules),
        role_model=_role_model(session, scope, modules),
        trend=_trend(q.daily_counts(session, where), scope),
        requests=request_counts(
            session, since=scope.since, until=scope.until, department=scope.department, k=k
        ),
    )


def check_department(sizes: Mapping[str | None, int], scope: Scope) -> None:
    """Refuse a department that is unknown or has fewer than `min_group` users."""
    department, k = scope.department, scope.min_group
    if department is None:
        return
    size = sizes.get(department, 0)
    if size == 0:
        known = sorted(d for d, n in sizes.items() if d is not None and n >= k)
        raise ReportRefused(
            f"unknown department {department!r} (departments of at least {k} users:"
            f" {', '.join(known) or 'none'})"
        )
    if size < k:
        raise ReportRefused(
            f"department {department!r} has fewer than {k} users (--min-group):"
            " a report on it would single people out"
        )


def _coverage(
    session: Session, scope: Scope, sizes: Mapping[str | None, int], modules: Modules
) -> tuple[Coverage, ...]:
    """Per module and department group; departments fold as the module docstring says."""
    if not modules:
        return ()
    k = scope.min_group
    if scope.department is not None:
        sizes = {scope.department: sizes[scope.department]}
    groups = fold_departments(sizes, k)
    users: Counter[str] = Counter()
    for department, n in sizes.items():
        users[groups[department]] += n
    trained: Counter[tuple[str, str]] = Counter()
    for (value, module), n in _trained_by(session, "department", scope, modules).items():
        trained[groups.get(value, OTHER), module] += n
    order = sorted(users, key=lambda group: (group == OTHER, group))
    return tuple(
        Coverage(module, group, users[group], trained[group, module] if users[group] >= k else None)
        for module in modules
        for group in order
    )


def _role_model(session: Session, scope: Scope, modules: Modules) -> tuple[Coverage, ...]:
    """Per module, managers then the other staff; both hidden if either is too small."""
    if not modules:
        return ()
    who = q.people(scope.department, scope.manager_role, scope.until)
    sizes = {bool(flag): n for flag, n in q.sizes_by(session, "manager", who).items()}
    trained = {
        (bool(flag), module): n
        for (flag, module), n in _trained_by(session, "manager", scope, modules).items()
    }
    hidden = any(0 < sizes.get(flag, 0) < scope.min_group for flag in (True, False))
    return tuple(
        Coverage(
            module, name, sizes.get(flag, 0), None if hidden else trained.get((flag, module), 0)
        )
        for module in modules
        for flag, name in ((True, MANAGERS), (False, STAFF))
    )


def _trained_by(
    session: Session, group: str, scope: Scope, modules: Modules
) -> dict[tuple[Any, str], int]:
    who = q.people(scope.department, scope.manager_role, scope.until)
    return q.trained_by(session, group, who, valid_completions(modules, scope.until))


def _trend(counts: Mapping[tuple[date, str], int], scope: Scope) -> tuple[DayCount, ...]:
    first = scope.since.date()
    last = (scope.until - timedelta(microseconds=1)).date()
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    actions = _actions(action for _, action in counts)
    return tuple(
        DayCount(day, action, counts.get((day, action), 0)) for day in days for action in actions
    )


def _actions(seen: Iterable[str]) -> tuple[str, ...]:
    """The three actions in their usual order, then any other the events hold."""
    return (*ACTIONS, *sorted(set(seen) - set(ACTIONS)))
