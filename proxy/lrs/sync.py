"""One sync: read the LRS from the stored cursor, apply each page in one transaction.

Each page's statements are claimed, applied, and the cursor moved in the same transaction:
a sync killed between pages resumes after the last committed one, and a statement is
applied once however often it is read (the claim is a primary key in the store).
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from proxy.lrs.cursor import cursor_after, stored_at, stored_of
from proxy.lrs.statements import (
    Completed,
    Directory,
    Outcome,
    Skipped,
    Voiding,
    classify,
    mailbox_sha1,
)
from proxy.store.db import store_errors
from proxy.store.notify import notify_changed
from proxy.store.training import Completion
from proxy.store.xapi import (
    SKIP_PREFIX,
    SOURCE_PREFIX,
    Cursor,
    claim,
    directory_rows,
    insert_sourced,
    mark_voided,
    read_cursor,
    remove_completions,
    write_cursor,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from policy import Policy
    from proxy.lrs.client import LrsClient

MAX_ACTORS_LISTED = 20
_EARLIEST = datetime.min.replace(tzinfo=UTC)
EPSILON = timedelta(microseconds=1)  # `since` is exclusive: ask from just before the cursor


@dataclass(slots=True)
class Tally:
    """What one sync (or one page of it) read and did with it."""

    read: int = 0
    applied: int = 0  # completions recorded
    voided: int = 0  # voiding statements handled
    removed: int = 0  # completions a voiding took back
    already: int = 0  # handled before: by an earlier sync or another follower
    skipped: Counter[str] = field(default_factory=Counter)
    unknown_actors: dict[str, None] = field(default_factory=dict)  # ordered set
    malformed: list[tuple[str, str]] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)  # seconds from `stored` to applied
    waited: float = 0.0  # seconds waiting for the LRS

    def add(self, other: Tally) -> None:
        self.read += other.read
        self.applied += other.applied
        self.voided += other.voided
        self.removed += other.removed
        self.already += other.already
        self.skipped.update(other.skipped)
        self.unknown_actors.update(other.unknown_actors)
        self.malformed.extend(other.malformed)
        self.lags.extend(other.lags)
        self.waited += other.waited

    def describe(self, url: str) -> list[str]:
        """The summary, then every malformed statement and the actors without a user."""
        skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items()))
        lines = [
            f"{url}: {self.read} statements read: {self.applied} completions recorded,"
            f" {self.voided} voidings ({self.removed} completions taken back),"
            f" {self.already} already handled, {sum(self.skipped.values())} skipped"
            + (f" ({skipped})" if skipped else "")
        ]
        lines += [
            f"skipped malformed statement {sid or '(no id)'}: {why}" for sid, why in self.malformed
        ]
        actors = list(self.unknown_actors)
        if actors:
            shown = ", ".join(actors[:MAX_ACTORS_LISTED])
            more = len(actors) - MAX_ACTORS_LISTED
            lines.append(
                f"{len(actors)} actors have no user (add their e-mail with"
                f" `leeway users add --email`): {shown}" + (f" and {more} more" if more > 0 else "")
            )
        return lines


@dataclass(slots=True)
class Syncer:
    """Reads the LRS behind `client` into the store behind `engine`, as `policy` maps it."""

    engine: Engine
    client: LrsClient
    policy: Policy
    account_home_page: str | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    authorities: frozenset[str] = frozenset()  # trusted to vouch for statements (none: all)

    def run(self, *, from_start: bool = False, on_page: Any = None) -> Tally:
        """Read every page after the cursor (or all, `from_start`) until `more` runs out."""
        total = Tally()
        with store_errors(self.engine.url), Session(self.engine) as session:
            directory, names = self._directory(session)
            cursor = None if from_start else read_cursor(session, self.client.url)
        since = None if cursor is None else cursor.stored - EPSILON
        for page in self.client.pages(since):
            # In the order they were stored (an LRS may return a page either way round).
            statements = sorted(page.statements, key=lambda s: stored_at(s) or _EARLIEST)
            tally = self.apply(statements, directory, names, cursor)
            tally.waited = page.waited
            total.add(tally)
            if on_page is not None:
                on_page(tally)
            if self.stop.is_set():
                break
        return total

    def _directory(self, session: Session) -> tuple[Directory, dict[int, str]]:
        rows = directory_rows(session)
        emails = {email: uid for uid, _, email in rows if email}
        directory = Directory(
            by_email=emails,
            by_sha1={mailbox_sha1(email): uid for email, uid in emails.items()},
            by_username={name: uid for uid, name, _ in rows},
            account_home_page=self.account_home_page,
        )
        return directory, {uid: name for uid, name, _ in rows}

    def apply(
        self,
        statements: list[Any],
        directory: Directory,
        names: dict[int, str],
        cursor: Cursor | None,
    ) -> Tally:
        """Apply one page in one transaction, moving the cursor with it."""
        tally = Tally(read=len(statements))
        seen = cursor.ids if cursor is not None else frozenset()
        outcomes = self._classify(statements, directory, seen, tally)
        now = datetime.now(UTC)
        with store_errors(self.engine.url), Session(self.engine) as session, session.begin():
            claimed = claim(session, {sid: _label(o) for sid, o in outcomes.items()}, now)
            tally.already += len(outcomes) - len(claimed)
            fresh = [o for sid, o in outcomes.items() if sid in claimed]
            users = self._record(session, fresh, now, tally)
            if (moved := cursor_after(statements)) is not None:
                write_cursor(session, self.client.url, moved, now)
            notify_changed(session, {names[uid] for uid in users if uid in names})
        for outcome in fresh:
            _count(outcome, tally)
        tally.lags = [(now - stored).total_seconds() for stored in stored_of(statements, fresh)]
        return tally

    def _classify(
        self, statements: list[Any], directory: Directory, seen: frozenset[str], tally: Tally
    ) -> dict[str, Outcome]:
        activities = self.policy.xapi_activities
        verbs = frozenset(self.policy.settings.xapi_verbs)
        outcomes: dict[str, Outcome] = {}
        for statement in statements:
            outcome = classify(statement, directory, activities, verbs, self.authorities)
            if not outcome.statement_id:  # nothing to claim it by: report it, once per read
                assert isinstance(outcome, Skipped)
                tally.skipped[outcome.reason] += 1
                tally.malformed.append(("", outcome.detail))
            elif outcome.statement_id in seen:
                tally.already += 1
            else:
                outcomes.setdefault(outcome.statement_id, outcome)
        return outcomes

    def _record(
        self, session: Session, fresh: list[Outcome], now: datetime, tally: Tally
    ) -> list[int]:
        completions = [
            (Completion(o.user_id, o.module, o.completed_at), f"{SOURCE_PREFIX}{o.statement_id}")
            for o in fresh
            if isinstance(o, Completed)
        ]
        users = insert_sourced(session, completions, now)
        targets = [o.target_id for o in fresh if isinstance(o, Voiding)]
        removed = remove_completions(session, targets)
        mark_voided(session, targets, now)  # one that has not arrived yet never counts
        tally.removed += len(removed)
        return users + removed


def _label(outcome: Outcome) -> str:
    if isinstance(outcome, Completed):
        return "completion"
    if isinstance(outcome, Voiding):
        return "voiding"
    return f"{SKIP_PREFIX}{outcome.reason}"


def _count(outcome: Outcome, tally: Tally) -> None:
    if isinstance(outcome, Completed):
        tally.applied += 1
    elif isinstance(outcome, Voiding):
        tally.voided += 1
    else:
        tally.skipped[outcome.reason] += 1
        if outcome.reason == "unknown_actor":
            tally.unknown_actors[outcome.detail] = None
        elif outcome.reason == "malformed":
            tally.malformed.append((outcome.statement_id, outcome.detail))
