"""The compiled policy's parts: modules, categories and rules as frozen values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from policy.decision import Access, Action

# The xAPI verbs whose statements count as completing a module, unless `xapi_verbs` says.
XAPI_DEFAULT_VERBS = (
    "http://adlnet.gov/expapi/verbs/completed",
    "http://adlnet.gov/expapi/verbs/passed",
)


@dataclass(frozen=True, slots=True)
class Settings:
    acknowledgement_ttl: timedelta = timedelta(hours=8)
    renewal_notice: timedelta = timedelta(days=14)
    xapi_verbs: tuple[str, ...] = XAPI_DEFAULT_VERBS


@dataclass(frozen=True, slots=True)
class Module:
    """A training course; a completion is valid for `valid_for` (None: for ever).

    A completion of any `xapi_activities` (activity IRIs) in the learning record store counts.
    """

    key: str
    title: str
    url: str
    valid_for: timedelta | None = None
    xapi_activities: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Category:
    name: str
    domains: tuple[str, ...]
    guidance: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Rule:
    """Applies when every `training_all` module is valid and, if `roles_any`, a role is held."""

    name: str
    categories: tuple[str, ...]
    read: Action
    write: Action
    training_all: tuple[Module, ...] = ()
    roles_any: tuple[str, ...] = ()
    role_set: frozenset[str] = field(init=False, repr=False, compare=False)
    warns: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Derived once here, read on every request.
        object.__setattr__(self, "role_set", frozenset(self.roles_any))
        object.__setattr__(self, "warns", Action.WARN in (self.read, self.write))

    def action_for(self, access: Access) -> Action:
        return self.write if access is Access.WRITE else self.read
