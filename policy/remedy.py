"""What would lift a warning or a block, and why, in plain words for the person asking.

The warn and block pages show this; it is derived from a decision's evidence only.
"""

from __future__ import annotations

from dataclasses import dataclass

from policy.decision import (
    Action,
    Decision,
    Reason,
    RoleMissing,
    RuleSkipped,
    TrainingExpired,
    TrainingExpiring,
    TrainingMissing,
)
from policy.engine import Policy
from policy.model import Module


@dataclass(frozen=True, slots=True)
class Remedy:
    """The courses to complete or renew and the roles to ask for; `reason` says why."""

    reason: str
    modules: tuple[Module, ...] = ()
    roles: tuple[str, ...] = ()


def remedy_for(policy: Policy, decision: Decision) -> Remedy:
    if decision.reason is Reason.STORE_UNAVAILABLE:
        return Remedy("Your training records could not be checked just now. Try again shortly.")
    if decision.reason is Reason.TRAINING_EXPIRING:
        return _renewal(policy, decision)
    if decision.action is Action.ALLOW:  # a reminder shown before posting is possible
        return Remedy(
            f"You can read {decision.category} sites. Before you post anything,"
            " read the guidance below."
        )
    better = _nearest_better_rule(policy, decision)
    if better is None:
        what = "posting to" if decision.access == "write" else "using"
        if decision.action is Action.WARN:
            return Remedy(f"Read the guidance below before {what} {decision.category} sites.")
        return Remedy(f"The policy does not allow {what} {decision.category} sites.")
    modules = tuple(
        policy.modules[u.module]
        for u in better.unmet
        if isinstance(u, TrainingMissing | TrainingExpired) and u.module in policy.modules
    )
    roles = tuple(role for u in better.unmet if isinstance(u, RoleMissing) for role in u.roles)
    return Remedy(_because(policy, better), modules, roles)


def _renewal(policy: Policy, decision: Decision) -> Remedy:
    for item in decision.evidence:
        if isinstance(item, TrainingExpiring) and item.module in policy.modules:
            module = policy.modules[item.module]
            day = item.expires_on.date().isoformat()
            return Remedy(f"Your {module.title} training runs out on {day}.", (module,))
    return Remedy("A course you need is about to run out.")


def _nearest_better_rule(policy: Policy, decision: Decision) -> RuleSkipped | None:
    """The skipped rule that would have given this access a better action and is the
    nearest to reach (fewest unmet conditions; the earlier rule on a tie)."""
    rules = {rule.name: rule for rule in policy.rules}
    better = [
        item
        for item in decision.evidence
        if isinstance(item, RuleSkipped)
        and item.rule in rules
        and rules[item.rule].action_for(decision.access).severity < decision.action.severity
    ]
    return min(better, key=lambda item: len(item.unmet), default=None)


def _because(policy: Policy, skipped: RuleSkipped) -> str:
    sentences = []
    for unmet in skipped.unmet:
        if isinstance(unmet, TrainingMissing):
            title = _title(policy, unmet.module)
            sentences.append(f"You have not completed {title} yet.")
        elif isinstance(unmet, TrainingExpired):
            day = unmet.expired_on.date().isoformat()
            sentences.append(f"Your {_title(policy, unmet.module)} training expired on {day}.")
        else:
            sentences.append(f"This needs the {' or '.join(unmet.roles)} role.")
    return " ".join(sentences)


def _title(policy: Policy, key: str) -> str:
    module = policy.modules.get(key)
    return module.title if module is not None else key
