"""One `leeway users sync`: read the whole directory, then plan and apply in one transaction.

Nothing is written until the directory has been read to the end, so a server that fails
half-way changes nothing; the writes and the proxies' notification commit together.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from proxy.directory.client import DirectoryError
from proxy.directory.entries import DirectoryPerson, Dropped, attributes_to_read, person_of
from proxy.directory.groups import Groups, Reader, dn_key
from proxy.directory.plan import Membership, Plan, plan
from proxy.store.db import store_errors
from proxy.store.directory import (
    add_directory_grants,
    add_users,
    deactivate_users,
    directory_grants,
    end_grants,
    free_names,
    known_users,
    update_users,
)
from proxy.store.notify import notify_changed

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.engine import Engine

    from proxy.store.directory import KnownUser


@dataclass(frozen=True, slots=True)
class Search:
    """Where the people are, how their fields are read, which groups give which role."""

    base: str
    search_filter: str
    mapping: dict[str, str]
    group_roles: tuple[tuple[str, str], ...] = ()
    page_size: int = 500


@dataclass(slots=True)
class Outcome:
    plan: Plan
    found: int
    directory_seconds: float = 0.0
    store_seconds: float = 0.0
    written: bool = False
    dropped: list[Dropped] = field(default_factory=list)


def read_directory(
    reader: Reader, search: Search
) -> tuple[list[DirectoryPerson], Membership, list[Dropped]]:
    """Every person under the base, and the members of each mapped group."""
    people: list[DirectoryPerson] = []
    dropped: list[Dropped] = []
    entries = reader.search(
        search.base, search.search_filter, attributes_to_read(search.mapping), search.page_size
    )
    for dn, attributes in entries:
        person, notes = person_of(dn, attributes, search.mapping)
        dropped += notes
        if person is not None:
            people.append(person)
    groups = Groups(
        reader, search.base, search.page_size, {dn_key(p.dn): p.member_of for p in people}
    )
    membership = {(dn, role): groups.members(dn) for dn, role in search.group_roles}
    if groups.missing:
        raise DirectoryError(
            f"group {groups.missing[0]} does not exist in the directory (check --group-role)"
        )
    return people, membership, dropped


def run_sync(
    engine: Engine, reader: Reader, search: Search, now: datetime, *, dry_run: bool = False
) -> Outcome:
    started = time.monotonic()
    people, membership, dropped = read_directory(reader, search)
    read = time.monotonic()
    roles = {role for _, role in search.group_roles}
    with store_errors(engine.url), Session(engine) as session, session.begin():
        known = known_users(session)
        _refuse_empty(people, known, search)
        changes = plan(people, known, membership, directory_grants(session, roles), now)
        if not dry_run:
            apply(session, changes, known, now)
            names = changes.usernames()
            if names:
                notify_changed(session, names)
    outcome = Outcome(changes, len(people), read - started, time.monotonic() - read, not dry_run)
    outcome.dropped = dropped + changes.dropped
    return outcome


def _refuse_empty(people: list[DirectoryPerson], known: list[KnownUser], search: Search) -> None:
    managed = sum(1 for user in known if user.directory_dn and user.deactivated_at is None)
    if not people and managed:
        raise DirectoryError(
            f"nobody found under {search.base} with {search.search_filter}: refusing to"
            f" deactivate all {managed} people from the directory (check --base and --filter)"
        )


def apply(session: Session, changes: Plan, known: list[KnownUser], now: datetime) -> None:
    """Write `changes`: existing users first (a rename frees its old name), then new ones."""
    ids = {user.username: user.id for user in known}
    free_names(session, [(user.id, name) for user, name in changes.retired])
    # Names and addresses that move between users (two people swap usernames) are freed
    # first: the unique indexes are checked row by row.
    moving = [
        (user.id, f"{user.username}#renaming-{user.id}")
        for user, values in (*changes.changed, *changes.reactivated)
        if (user.username, user.email) != (values.username, values.email)
    ]
    free_names(session, moving)
    update_users(session, [(user.id, values) for user, values in changes.changed])
    update_users(session, [(user.id, values) for user, values in changes.reactivated])
    ids.update({values.username: user.id for user, values in changes.changed})
    ids.update({values.username: user.id for user, values in changes.reactivated})
    deactivate_users(session, [user.id for user in changes.deactivated], now)
    ids.update(add_users(session, changes.added, now))
    granted = [(ids[name], role, group) for name, role, group in changes.grants_added]
    add_directory_grants(session, granted, now)
    end_grants(session, [grant.id for grant, _ in changes.grants_ended], now)
