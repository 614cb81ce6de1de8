"""Where a person stands: what they may do on each category now, why, and what would give
them more; their courses, acknowledgements and roles. The access page shows this.

Every action and reason is the engine's (`Policy.decide` for reading and for posting, on a
listed domain of the category) and every remedy is `remedy_for`'s: nothing decided twice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from policy.decision import Access, AcknowledgedUntil, Action, Decision, Reason
from policy.engine import Policy, Request
from policy.model import Category, Module, Rule
from policy.remedy import Remedy, remedy_for
from policy.subject import Acknowledgement, Grant, Subject

METHODS = {Access.READ: "GET", Access.WRITE: "POST"}


@dataclass(frozen=True, slots=True)
class AccessNow:
    """One access (reading or posting) of one category: the engine's decision, and what
    would lift a warning or a block (None when nothing is in the way)."""

    decision: Decision
    remedy: Remedy | None

    @property
    def action(self) -> Action:
        return self.decision.action

    @property
    def reasons(self) -> tuple[str, ...]:
        """The engine's explanation, without its first sentence (which names the sample
        domain the category was decided on, not anything the person asked for)."""
        return self.decision.explanation[1:]


@dataclass(frozen=True, slots=True)
class CategoryStanding:
    category: Category
    read: AccessNow
    write: AccessNow
    # What the policy asks of anyone on this category, rule by rule (first match decides).
    rules: tuple[Rule, ...]


class CourseState(StrEnum):
    VALID = "valid"
    RENEWAL_DUE = "renewal_due"  # within the renewal notice: renew now
    EXPIRED = "expired"
    NOT_COMPLETED = "not_completed"


@dataclass(frozen=True, slots=True)
class CourseStanding:
    """A module and the person's latest completion of it (none: not completed)."""

    module: Module
    state: CourseState
    completed_at: datetime | None = None
    expires_at: datetime | None = None  # None with a completion: never expires
    renewal_from: datetime | None = None  # from when the renewal notice shows


@dataclass(frozen=True, slots=True)
class Standing:
    """Everything the access page says of one person (or of anyone: `Subject.anonymous()`).
    `degraded`: the store could not be read, so this is the fail mode, not their record."""

    categories: tuple[CategoryStanding, ...]
    courses: tuple[CourseStanding, ...]
    acknowledgements: tuple[Acknowledgement, ...]
    grants: tuple[Grant, ...]
    degraded: bool


def standing(policy: Policy, subject: Subject, now: datetime) -> Standing:
    """Where `subject` stands at `now` under `policy`."""
    categories = tuple(
        CategoryStanding(
            category,
            access_now(policy, subject, category, Access.READ, now),
            access_now(policy, subject, category, Access.WRITE, now),
            policy_rules(policy, category.name),
        )
        for category in policy.categories.values()
        if category.domains
    )
    acknowledgements = tuple(
        sorted(
            (a for a in subject.acknowledgements if a.valid_at(now)),
            key=lambda a: (a.category, a.expires_at),
        )
    )
    return Standing(
        categories=categories,
        courses=tuple(course_standing(policy, subject, m, now) for m in policy.modules.values()),
        acknowledgements=acknowledgements,
        grants=tuple(g for g in subject.grants if g.active_at(now)),
        degraded=subject.degraded,
    )


def access_now(
    policy: Policy, subject: Subject, category: Category, access: Access, now: datetime
) -> AccessNow:
    """The engine's decision on `access` to `category` (on its first listed domain), and
    the remedy of what stands in the way. An acknowledged warning names what would lift
    the warning itself: the remedy of the same request without the acknowledgements."""
    request = Request(METHODS[access], (category.domains[0],))
    decision = policy.decide(subject, request, now)
    if decision.reason is Reason.ACKNOWLEDGED:
        unacknowledged = replace(subject, acknowledgements=())
        return AccessNow(decision, remedy_for(policy, policy.decide(unacknowledged, request, now)))
    if decision.action is Action.ALLOW:
        return AccessNow(decision, None)
    return AccessNow(decision, remedy_for(policy, decision))


def policy_rules(policy: Policy, category: str) -> tuple[Rule, ...]:
    """The rules that name `category`, in the order they are tried."""
    return tuple(rule for rule in policy.rules if category in rule.categories)


def course_standing(
    policy: Policy, subject: Subject, module: Module, now: datetime
) -> CourseStanding:
    done = subject.latest_completion(module.key, now)
    if done is None:
        return CourseStanding(module, CourseState.NOT_COMPLETED)
    if module.valid_for is None:
        return CourseStanding(module, CourseState.VALID, done)
    expires = done + module.valid_for
    renewal_from = expires - policy.settings.renewal_notice
    if now >= expires:
        state = CourseState.EXPIRED
    elif now >= renewal_from:
        state = CourseState.RENEWAL_DUE
    else:
        state = CourseState.VALID
    return CourseStanding(module, state, done, expires, renewal_from)


def summary(access: Access, what: AccessNow, category: str) -> str:
    """What the person may do, in plain words (the reasons follow it on the page)."""
    decision = what.decision
    doing = "read" if access is Access.READ else "post to"
    if decision.reason is Reason.STORE_UNAVAILABLE:
        return f"Your records can't be read just now: you are treated as untrained ({doing})."
    if decision.reason is Reason.ACKNOWLEDGED:
        until = next(e.expires_at for e in decision.evidence if isinstance(e, AcknowledgedUntil))
        when = until.strftime("%Y-%m-%d %H:%M UTC")
        return f"You may {doing} {category} sites until {when}: you read the notice."
    if decision.reason is Reason.TRAINING_EXPIRING:
        return f"You may {doing} {category} sites, after a reminder to renew your training."
    if decision.action is Action.ALLOW and decision.interstitial:
        return f"You may {doing} {category} sites, after a notice on the first page you open."
    if decision.action is Action.ALLOW:
        return f"You may {doing} {category} sites."
    if decision.action is Action.WARN:
        return f"You may {doing} {category} sites after reading a notice and choosing Continue."
    return f"You may not {doing} {category} sites: it is blocked."
