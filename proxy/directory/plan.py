"""What a sync would change, worked out before anything is written (`--dry-run` prints it).

People are matched to users as `proxy.directory.matching` says; the directory's spelling
becomes the stored username, and the entry's identifier the stored one. Managed users (with
a DN) not found are deactivated, found again reactivated. A member of a mapped group gets
its role unless the directory's grant of it to them was revoked by hand; a directory grant
whose holder left the group is ended. Hand-made grants are never seen here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from proxy.directory.entries import DirectoryPerson, Dropped
from proxy.directory.groups import dn_key
from proxy.directory.matching import match_people
from proxy.store.directory import DirectoryGrant, KnownUser, UserValues

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

type Membership = dict[tuple[str, str], set[str]]  # (group DN, role) -> people's dn keys
type Wanted = tuple[str, str, str]  # (username, role, group DN)


@dataclass(slots=True)
class Plan:
    added: list[UserValues] = field(default_factory=list)
    changed: list[tuple[KnownUser, UserValues]] = field(default_factory=list)
    reactivated: list[tuple[KnownUser, UserValues]] = field(default_factory=list)
    deactivated: list[KnownUser] = field(default_factory=list)
    unchanged: int = 0
    grants_added: list[Wanted] = field(default_factory=list)
    grants_ended: list[tuple[DirectoryGrant, str]] = field(default_factory=list)  # + username
    left_revoked: int = 0
    dropped: list[Dropped] = field(default_factory=list)
    retired: list[tuple[KnownUser, str]] = field(default_factory=list)  # + its new name

    def usernames(self) -> set[str]:
        """Everyone whose entitlements change: their proxies must reload them."""
        names = {u.username for u in self.added} | {k.username for k in self.deactivated}
        for known, values in (*self.changed, *self.reactivated):
            names |= {known.username, values.username}
        names |= {name for name, _, _ in self.grants_added}
        names |= {name for user, new in self.retired for name in (user.username, new)}
        return names | {name for _, name in self.grants_ended}


def plan(
    people: Sequence[DirectoryPerson],
    known: Sequence[KnownUser],
    membership: Membership,
    grants: Sequence[DirectoryGrant],
    now: datetime,
) -> Plan:
    result = Plan()
    matching = match_people(people, known)
    found, claimed = matching.found, matching.claimed
    result.dropped, result.retired = matching.dropped, matching.retired
    for values, user in matching.pairs:
        if user is None:
            result.added.append(values)
        else:
            _compare(result, user, values)
    for user in known:
        if user.directory_dn and user.deactivated_at is None and user.id not in claimed:
            result.deactivated.append(user)
    matched = _Matched(found, claimed, {user.id: user.username for user in known})
    by_group: dict[tuple[str, str], list[DirectoryGrant]] = {}
    for grant in grants:
        by_group.setdefault((dn_key(grant.group), grant.role), []).append(grant)
    for (group, role), members in sorted(membership.items()):
        mine = by_group.get((dn_key(group), role), [])
        _plan_group(result, (group, role), members & found.keys(), mine, matched, now)
    return result


@dataclass(frozen=True, slots=True)
class _Matched:
    found: dict[str, str]  # dn key -> username, of each person taken
    claimed: dict[int, str]  # user id -> dn key, of each user found
    holders: dict[int, str]  # user id -> stored username, of every user


def _compare(result: Plan, user: KnownUser, values: UserValues) -> None:
    if user.deactivated_at is not None:
        result.reactivated.append((user, values))
    elif changes(user, values):
        result.changed.append((user, values))
    else:
        result.unchanged += 1


FIELDS = ("username", "display_name", "department", "email", "directory_dn", "directory_id")


def changes(user: KnownUser, values: UserValues) -> list[tuple[str, object, object]]:
    """(field, stored, given) of each field the directory changes."""
    found = [(name, getattr(user, name), getattr(values, name)) for name in FIELDS]
    return [(name, stored, given) for name, stored, given in found if stored != given]


def _plan_group(
    result: Plan,
    mapping: tuple[str, str],
    wanted: set[str],
    grants: list[DirectoryGrant],
    matched: _Matched,
    now: datetime,
) -> None:
    """Grants to add and to end for one (group, role); holders are told apart by dn key."""
    group, role = mapping

    def holder(grant: DirectoryGrant) -> str:
        return matched.claimed.get(grant.user_id, f"#{grant.user_id}")  # not found: not wanted

    active = {holder(g): g for g in grants if g.active(now)}
    revoked = {holder(g) for g in grants if g.revoked_at is not None}
    for key in sorted(wanted - active.keys()):
        if key in revoked:
            result.left_revoked += 1  # revoked by hand: the sync does not undo it
        else:
            result.grants_added.append((matched.found[key], role, group))
    for key, grant in sorted(active.items()):
        if key not in wanted:
            result.grants_ended.append((grant, matched.holders[grant.user_id]))
