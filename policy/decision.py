"""The engine's answer: an action with its reason code, rule and evidence.

A `Decision` never builds an HTTP response; the addons enforce it. Its explanation is
rendered from structured evidence only when someone reads it.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import NamedTuple


class Action(StrEnum):
    ALLOW = "allow"
    WARN = "warn"
    BLOCK = "block"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {Action.ALLOW: 0, Action.WARN: 1, Action.BLOCK: 2}


class Access(StrEnum):
    READ = "read"
    WRITE = "write"


class Reason(StrEnum):
    """Why a decision came out as it did: a closed set, safe as a metric label."""

    UNCATEGORIZED = "uncategorized"
    RULE_MATCHED = "rule_matched"
    NO_MATCHING_RULE = "no_matching_rule"
    TRAINING_EXPIRING = "training_expiring"
    ACKNOWLEDGED = "acknowledged"
    INVALID_HOST = "invalid_host"
    STORE_UNAVAILABLE = "store_unavailable"


READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_KNOWN_ACCESS = dict.fromkeys(READ_METHODS, Access.READ) | dict.fromkeys(
    WRITE_METHODS, Access.WRITE
)


def access_for(method: str) -> Access:
    """`read` for GET, HEAD and OPTIONS (any case), `write` for every other method."""
    known = _KNOWN_ACCESS.get(method)
    if known is not None:
        return known
    return Access.READ if method.upper() in READ_METHODS else Access.WRITE


# Evidence: why a rule did or did not apply, and what changed the rule's action.
# Named tuples rather than dataclasses: they are built on the request path, and a
# frozen dataclass costs several times more to construct.


class TrainingMissing(NamedTuple):
    module: str

    def sentence(self) -> str:
        return f"training {self.module} not completed"


class TrainingExpired(NamedTuple):
    module: str
    expired_on: datetime

    def sentence(self) -> str:
        return f"training {self.module} expired on {_day(self.expired_on)}"


class RoleMissing(NamedTuple):
    roles: tuple[str, ...]

    def sentence(self) -> str:
        names = " or ".join(self.roles)
        return f"no active grant of role {names}"


Unmet = TrainingMissing | TrainingExpired | RoleMissing


class MethodOverride(NamedTuple):
    """A method override header that makes a read method count as a write."""

    header: str
    method: str

    def sentence(self) -> str:
        return f"The request counts as posting: its {self.header} header names {self.method}."


# Headers that many frameworks honour as the method: a GET naming POST in one is a post.
OVERRIDE_HEADERS = {
    name.lower(): name for name in ("X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override")
}


def writing_override(overrides: tuple[tuple[str, str], ...]) -> MethodOverride | None:
    """The first method override that names a write, among the request's (header, value)
    pairs (any case, a comma list, spaces trimmed); None when none does."""
    for header, value in overrides:
        name = OVERRIDE_HEADERS.get(header.lower())
        if name is None:
            continue
        for method in value.split(","):
            method = method.strip().upper()
            if method and method not in READ_METHODS:
                return MethodOverride(name, method)
    return None


class RuleSkipped(NamedTuple):
    """A rule that names the category but whose condition does not hold."""

    rule: str
    unmet: tuple[Unmet, ...]

    def sentence(self) -> str:
        reasons = "; ".join(u.sentence() for u in self.unmet)
        return f"Rule '{self.rule}' does not apply: {reasons}."


class TrainingExpiring(NamedTuple):
    module: str
    expires_on: datetime

    def sentence(self) -> str:
        return (
            f"Training {self.module} expires on {_day(self.expires_on)}, within the renewal"
            " notice: allow becomes warn until it is renewed."
        )


class AcknowledgedUntil(NamedTuple):
    category: str
    expires_at: datetime

    def sentence(self) -> str:
        when = self.expires_at.strftime("%Y-%m-%d %H:%M UTC")
        return f"The warning for {self.category} was acknowledged, valid until {when}: allowed."


Evidence = MethodOverride | RuleSkipped | TrainingExpiring | AcknowledgedUntil


def _day(moment: datetime) -> date:
    return moment.date()


class Decision(NamedTuple):
    """What to do with one request, and why (a named tuple: it is made on every request).

    `rule_action` is the matched rule's action before renewal notices and
    acknowledgements; `interstitial` says whether a page load gets the interstitial
    (the rule warns for read or for write, or a renewal notice is due).
    """

    action: Action
    access: Access
    reason: Reason
    host: str
    category: str | None
    rule: str | None
    revision: str
    matched_domain: str | None = None
    evidence: tuple[Evidence, ...] = ()
    rule_action: Action | None = None
    interstitial: bool = False

    @staticmethod
    def of(
        *,
        action: Action,
        access: Access,
        reason: Reason,
        host: str,
        category: str | None,
        rule: str | None,
        revision: str,
        matched_domain: str | None = None,
        evidence: tuple[Evidence, ...] = (),
        rule_action: Action | None = None,
        interstitial: bool = False,
    ) -> Decision:
        """A decision built by keyword at the cost of a plain call: calling the class with
        keywords packs them in a dict first, which costs a sixth of a decision."""
        return _new_tuple(
            Decision,
            (
                action,
                access,
                reason,
                host,
                category,
                rule,
                revision,
                matched_domain,
                evidence,
                rule_action,
                interstitial,
            ),
        )

    @property
    def explanation(self) -> tuple[str, ...]:
        return tuple(_explain(self))

    def to_json(self) -> dict[str, object]:
        return {
            "action": str(self.action),
            "access": str(self.access),
            "category": self.category,
            "rule": self.rule,
            "reason": str(self.reason),
            "host": self.host,
            "revision": self.revision,
            "explanation": list(self.explanation),
        }


_new_tuple = tuple.__new__


def _explain(d: Decision) -> list[str]:
    if d.reason is Reason.INVALID_HOST:
        return [f"{d.host!r} is not a valid host name: blocked."]
    if d.category is None:
        return [f"{d.host} is in no category: allowed, not inspected."]
    lines = [f"{d.host} is in category {d.category} (listed as {d.matched_domain})."]
    lines.extend(e.sentence() for e in d.evidence if isinstance(e, MethodOverride))
    if d.reason is Reason.STORE_UNAVAILABLE:
        lines.append("The training records could not be read: decided as a user with none.")
    lines.extend(e.sentence() for e in d.evidence if isinstance(e, RuleSkipped))
    if d.rule is None:
        lines.append(f"No rule for {d.category} applies to this user: {d.access} is blocked.")
        return lines
    lines.append(f"Rule '{d.rule}' applies: {d.access} is {d.rule_action}.")
    lines.extend(
        e.sentence() for e in d.evidence if isinstance(e, TrainingExpiring | AcknowledgedUntil)
    )
    return lines
