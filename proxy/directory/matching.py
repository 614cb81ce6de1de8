"""Who is who: each person found in the directory matched to the user they already are.

By the entry's permanent identifier first (so a person renamed, DN and username both,
keeps their user and history), else by DN, else by username without regard to case (a
user added by hand or from CSV is adopted, and users synced before identifiers were kept
get theirs). A user that holds another identifier is another entry's, so never adopted:
an account deleted and made again, or a new hire given a former employee's username, is
a new user, and the former user is retired (renamed `NAME#former-ID`, e-mail cleared, kept
as history) to free the name. Found again with the same identifier (an account disabled,
then enabled) is the same user. People whose identifier is known are matched first, so a
renamed person keeps their user even when another entry now has the old name or DN.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from proxy.directory.entries import DirectoryPerson, Dropped
from proxy.directory.groups import dn_key
from proxy.store.directory import KnownUser, UserValues

if TYPE_CHECKING:
    from collections.abc import Sequence


@dataclass(slots=True)
class Matching:
    pairs: list[tuple[UserValues, KnownUser | None]] = field(default_factory=list)  # None: new
    retired: list[tuple[KnownUser, str]] = field(default_factory=list)  # + the name it gets
    dropped: list[Dropped] = field(default_factory=list)
    found: dict[str, str] = field(default_factory=dict)  # dn key -> username, of each taken
    claimed: dict[int, str] = field(default_factory=dict)  # user id -> dn key, of each matched


def match_people(people: Sequence[DirectoryPerson], known: Sequence[KnownUser]) -> Matching:
    result = Matching()
    by_id = {u.directory_id: u for u in known if u.directory_id}
    by_dn = {dn_key(u.directory_dn): u for u in known if u.directory_dn}
    by_name: dict[str, list[KnownUser]] = {}
    for each in known:
        by_name.setdefault(each.username.lower(), []).append(each)
    matched: list[tuple[DirectoryPerson, KnownUser | None]] = []
    taken: set[str] = set()
    for person in sorted(people, key=lambda p: p.directory_id not in by_id):  # stable
        key, lower = dn_key(person.dn), person.username.lower()
        if lower in taken or key in result.found:
            why = f"username {person.username!r} (or this DN) found twice: skipped"
            result.dropped.append(Dropped(person.dn, why))
            continue
        candidates = (
            by_id.get(person.directory_id or ""),
            by_dn.get(key),
            _by_name(person.username, by_name.get(lower, [])),
        )
        user = next((u for u in candidates if _adoptable(u, person, result.claimed)), None)
        taken.add(lower)
        result.found[key] = person.username
        if user is not None:
            result.claimed[user.id] = key
        matched.append((person, user))
    _retire_holders(result, matched, by_name)
    _with_values(result, matched, known)
    return result


def _adoptable(user: KnownUser | None, person: DirectoryPerson, claimed: dict[int, str]) -> bool:
    if user is None or user.id in claimed:  # taken by another entry (by its identifier)
        return False
    return user.directory_id is None or person.directory_id in (None, user.directory_id)


def _by_name(username: str, candidates: list[KnownUser]) -> KnownUser | None:
    exact = [u for u in candidates if u.username == username]
    if exact:
        return exact[0]
    return candidates[0] if len(candidates) == 1 else None


def _retire_holders(
    result: Matching,
    matched: list[tuple[DirectoryPerson, KnownUser | None]],
    by_name: dict[str, list[KnownUser]],
) -> None:
    """A new person's username held by a user of another entry, not matched now: retire it."""
    for person, user in matched:
        if user is not None:
            continue
        for holder in by_name.get(person.username.lower(), []):
            if holder.id not in result.claimed:
                result.retired.append((holder, f"{holder.username}#former-{holder.id}"))


def _with_values(
    result: Matching,
    matched: list[tuple[DirectoryPerson, KnownUser | None]],
    known: Sequence[KnownUser],
) -> None:
    """What each person's user will hold; an e-mail address another user keeps is left out."""
    retired = {holder.id for holder, _ in result.retired}
    emails: dict[str, object] = {u.email: u.id for u in known if u.email and u.id not in retired}
    for person, user in matched:
        owner: object = user.id if user is not None else dn_key(person.dn)
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
        result.pairs.append((values, user))
