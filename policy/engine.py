"""The decision engine: a compiled policy that answers `decide(subject, request, now)`.

Everything is compiled once when the policy loads (domain index, rules per category), so
a decision costs a host normalisation, a few dict look-ups and a short walk of rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from policy.decision import (
    Access,
    AcknowledgedUntil,
    Action,
    Decision,
    Evidence,
    MethodOverride,
    Reason,
    RoleMissing,
    RuleSkipped,
    TrainingExpired,
    TrainingExpiring,
    TrainingMissing,
    Unmet,
    access_for,
    writing_override,
)
from policy.domains import Classified, DomainIndex, Match
from policy.hosts import InvalidHost, normalise_host
from policy.model import Category, Module, Rule, Settings
from policy.subject import Subject

_REMEMBER_HOSTS = 16_384
_REMEMBER_LENGTH = 255


@dataclass(frozen=True, slots=True)
class Request:
    """The facts of one request: its method, every name it carries, its override headers.

    `hosts` holds the CONNECT target, the TLS SNI and the Host or `:authority`, as far
    as they are known; the strictest decision among them wins. `overrides` holds the
    (name, value) of each method override header (`X-HTTP-Method-Override`, ...): one
    that names a write makes a read method a write (DESIGN step 2).
    """

    method: str
    hosts: tuple[str, ...]
    overrides: tuple[tuple[str, str], ...] = ()

    @classmethod
    def to(
        cls, host: str, method: str = "GET", overrides: tuple[tuple[str, str], ...] = ()
    ) -> Request:
        return cls(method=method, hosts=(host,), overrides=overrides)


class Policy:
    """A validated policy, compiled for fast decisions. Build it with `policy.loader`."""

    def __init__(
        self,
        *,
        revision: str,
        source: str,
        settings: Settings,
        modules: Mapping[str, Module],
        categories: Mapping[str, Category],
        rules: Iterable[Rule],
    ) -> None:
        self.revision = revision
        self.source = source
        self.settings = settings
        self.modules = dict(modules)
        # activity IRI -> module: the loader checks that no activity is in two modules
        self.xapi_activities = {
            iri: module.key for module in self.modules.values() for iri in module.xapi_activities
        }
        self.categories = dict(categories)
        self.rules = tuple(rules)
        self.roles = frozenset(role for rule in self.rules for role in rule.roles_any)
        self._index = DomainIndex(
            {domain: c.name for c in self.categories.values() for domain in c.domains}
        )
        # The one memory of host names: a proxy sees the same few thousand over and over.
        self._seen: dict[str, Classified] = {}
        self._rules_by_category = {
            name: tuple(r for r in self.rules if name in r.categories) for name in self.categories
        }

    def category_of(self, host: str) -> tuple[str, str] | None:
        """The (category, listed domain) of a normalised host, or None."""
        return self._index.match(host)

    def classify(self, raw: str) -> Classified:
        """A name as a request carries it: a `Match` when categorised, its normal form
        when not, or why it is not a host. Remembered, within a bound."""
        known = self._seen.get(raw)
        if known is not None:
            return known
        host = normalise_host(raw)
        if isinstance(host, InvalidHost):
            known = host
        else:
            found = self._index.match(host)
            known = host if found is None else Match(host, *found)
        if len(raw) <= _REMEMBER_LENGTH:
            if len(self._seen) >= _REMEMBER_HOSTS:
                self._seen.clear()
            self._seen[raw] = known
        return known

    def normal_form(self, raw: str) -> str:
        """The normal form of a name as a request carries it; `raw` if it is not a host."""
        known = self.classify(raw)
        if isinstance(known, Match):
            return known.host
        return known.raw if isinstance(known, InvalidHost) else known

    def decide(self, subject: Subject, request: Request, now: datetime) -> Decision:
        """Decide `request` for `subject` at `now`; never raises."""
        access = access_for(request.method)
        override = None
        if request.overrides and access is Access.READ:
            override = writing_override(request.overrides)
            if override is not None:
                access = Access.WRITE
        hosts = request.hosts
        if len(hosts) == 1:
            return self._decide_host(subject, hosts[0], access, now, override)
        decisions = [
            self._decide_host(subject, h, access, now, override) for h in dict.fromkeys(hosts)
        ]
        return max(decisions, key=_strictness)

    def _decide_host(
        self,
        subject: Subject,
        raw: str,
        access: Access,
        now: datetime,
        override: MethodOverride | None = None,
    ) -> Decision:
        match = self.classify(raw)
        if not isinstance(match, Match):  # not a host: blocked; uncategorised: allowed
            invalid = isinstance(match, InvalidHost)
            return Decision.of(
                action=Action.BLOCK if invalid else Action.ALLOW,
                access=access,
                reason=Reason.INVALID_HOST if invalid else Reason.UNCATEGORIZED,
                host=match.raw if isinstance(match, InvalidHost) else match,
                category=None,
                rule=None,
                revision=self.revision,
            )
        skipped: list[Evidence] = [] if override is None else [override]
        notice = self.settings.renewal_notice
        for rule in self._rules_by_category[match.category]:
            unmet, expiring = _check(rule, subject, now, notice)
            if unmet:
                skipped.append(RuleSkipped(rule.name, tuple(unmet)))
                continue
            return self._apply(rule, subject, access, match, skipped, expiring, now)
        return Decision.of(
            action=Action.BLOCK,
            access=access,
            reason=Reason.STORE_UNAVAILABLE if subject.degraded else Reason.NO_MATCHING_RULE,
            host=match.host,
            category=match.category,
            rule=None,
            revision=self.revision,
            matched_domain=match.listed,
            evidence=tuple(skipped),
        )

    def _apply(  # noqa: PLR0913 (the hot path: a value object here costs an allocation a decision)
        self,
        rule: Rule,
        subject: Subject,
        access: Access,
        match: Match,
        evidence: list[Evidence],
        expiring: TrainingExpiring | None,
        now: datetime,
    ) -> Decision:
        """The matched rule's action, after renewal notices and acknowledgements."""
        rule_action = action = rule.action_for(access)
        reason = Reason.RULE_MATCHED
        interstitial = rule.warns
        if action is Action.ALLOW and expiring is not None:
            action, reason, interstitial = Action.WARN, Reason.TRAINING_EXPIRING, True
            evidence.append(expiring)
        if interstitial and (ack := subject.acknowledged(match.category, now)) is not None:
            interstitial = False
            if action is Action.WARN:
                action, reason = Action.ALLOW, Reason.ACKNOWLEDGED
                evidence.append(AcknowledgedUntil(match.category, ack.expires_at))
        return Decision.of(
            action=action,
            access=access,
            # A degraded subject is the fail mode's: that, not the rule, is why.
            reason=Reason.STORE_UNAVAILABLE if subject.degraded else reason,
            host=match.host,
            category=match.category,
            rule=rule.name,
            revision=self.revision,
            matched_domain=match.listed,
            evidence=tuple(evidence),
            rule_action=rule_action,
            interstitial=interstitial,
        )


def _check(
    rule: Rule, subject: Subject, now: datetime, notice: timedelta
) -> tuple[list[Unmet] | None, TrainingExpiring | None]:
    """Why `rule` does not apply to `subject` at `now` (None when it does), and the
    module of the rule that runs out soonest within the renewal `notice`."""
    unmet: list[Unmet] | None = None
    expiring: TrainingExpiring | None = None
    for module in rule.training_all:
        done = subject.latest_completion(module.key, now)
        if done is None:
            unmet = [*(unmet or ()), TrainingMissing(module.key)]
            continue
        if module.valid_for is None:
            continue
        expires = done + module.valid_for
        if now >= expires:
            unmet = [*(unmet or ()), TrainingExpired(module.key, expires)]
        elif expires - now <= notice and (expiring is None or expires < expiring.expires_on):
            expiring = TrainingExpiring(module.key, expires)
    if rule.roles_any and not subject.has_role(rule.role_set, now):
        unmet = [*(unmet or ()), RoleMissing(rule.roles_any)]
    return unmet, expiring


def _strictness(decision: Decision) -> tuple[int, bool]:
    return decision.action.severity, decision.category is not None
