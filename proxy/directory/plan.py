"""What a sync would change, worked out before anything is written (`--dry-run` prints it).

People are matched to users by the entry's permanent identifier (so a person renamed, DN
and username both, keeps their history), else by their DN, else by username without regard
to case (a user imported from CSV is adopted, and an account deleted and made again under
the same name is the same person): the directory's spelling becomes the stored username,
and the entry's identifier the stored one. People whose identifier is known are matched
first, so that a renamed person keeps their user even if another entry now has the old
name or DN. Managed
users (with a DN) not found are deactivated, found again reactivated. A member of a mapped
group gets its role unless the directory's grant of it to them was revoked by hand; a
directory grant whose holder left the group is ended. Hand-made grants are never seen here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from proxy.directory.entries import DirectoryPerson, Dropped
from proxy.directory.groups import dn_key
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

    def usernames(self) -> set[str]:
        """Everyone whose entitlements change: their proxies must reload them."""
        names = {u.username for u in self.added} | {k.username for k in self.deactivated}
        for known, values in (*self.changed, *self.reactivated):
            names |= {known.username, values.username}
        names |= {name for name, _, _ in self.grants_added}
        return names | {name for _, name in self.grants_ended}


def plan(
    people: Sequence[DirectoryPerson],
    known: Sequence[KnownUser],
    membership: Membership,
    grants: Sequence[DirectoryGrant],
    now: datetime,
) -> Plan:
    result = Plan()
    found, claimed = _match_people(people, known, result)
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


def _match_people(
    people: Sequence[DirectoryPerson], known: Sequence[KnownUser], result: Plan
) -> tuple[dict[str, str], dict[int, str]]:
    """(dn key -> username of each person taken, user id -> dn key of each user matched)."""
    by_id = {u.directory_id: u for u in known if u.directory_id}
    by_dn = {dn_key(u.directory_dn): u for u in known if u.directory_dn}
    by_name: dict[str, list[KnownUser]] = {}
    for each in known:
        by_name.setdefault(each.username.lower(), []).append(each)
    emails: dict[str, object] = {u.email: u.id for u in known if u.email}
    found: dict[str, str] = {}
    claimed: dict[int, str] = {}
    taken: set[str] = set()
    for person in sorted(people, key=lambda p: p.directory_id not in by_id):  # stable
        key, lower = dn_key(person.dn), person.username.lower()
        if lower in taken or key in found:
            why = f"username {person.username!r} (or this DN) found twice: skipped"
            result.dropped.append(Dropped(person.dn, why))
            continue
        # A user another entry has taken (by its identifier: renamed) is not this one's.
        candidates = (
            by_id.get(person.directory_id or ""),
            by_dn.get(key),
            _by_name(person.username, by_name.get(lower, [])),
        )
        user = next((u for u in candidates if u is not None and u.id not in claimed), None)
        taken.add(lower)
        found[key] = person.username
        owner: object = user.id if user is not None else key
        email = person.email
        if email is not None and emails.setdefault(email, owner) != owner:
            result.dropped.append(
                Dropped(person.dn, f"e-mail {email} is another user's: left empty")
            )
            email = None
        values = UserValues(
            person.username,
            person.display_name,
            person.department,
            email,
            person.dn,
            person.directory_id,
        )
        if user is None:
            result.added.append(values)
        else:
            claimed[user.id] = key
            _compare(result, user, values)
    return found, claimed


def _by_name(username: str, candidates: list[KnownUser]) -> KnownUser | None:
    exact = [u for u in candidates if u.username == username]
    if exact:
        return exact[0]
    return candidates[0] if len(candidates) == 1 else None


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
