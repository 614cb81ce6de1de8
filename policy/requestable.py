"""Which roles a person may ask for on a category: only those some rule for it accepts.

An access request is not a way around the policy: a role that no rule for the category names
in `roles_any` would give nothing there, so asking for it (or approving it) is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from policy.engine import Policy


class NotRequestable(ValueError):
    """A category the policy does not know, or a role no rule for that category accepts."""


def requestable_roles(policy: Policy, category: str) -> frozenset[str]:
    """The roles that some rule for `category` accepts (`roles_any`); none for an unknown one."""
    return frozenset(
        role for rule in policy.rules if category in rule.categories for role in rule.roles_any
    )


def check_requestable(policy: Policy, category: str, role: str) -> None:
    """Refuse, with `NotRequestable` saying why, a request for `role` on `category`."""
    if category not in policy.categories:
        known = ", ".join(sorted(policy.categories)) or "none"
        raise NotRequestable(f"unknown category {category!r} (known: {known})")
    roles = requestable_roles(policy, category)
    if role not in roles:
        accepted = ", ".join(sorted(roles)) or "none: no rule for it names a role"
        raise NotRequestable(
            f"role {role!r} cannot be asked for on category {category!r}"
            f" (roles its rules accept: {accepted})"
        )
