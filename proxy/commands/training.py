"""`leeway training import FILE.csv` and `leeway training record`: course completions.

An import streams the file in one transaction, inserting in chunks; a completion already
present is skipped, so the same file twice changes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from proxy.commands import (
    CommandError,
    Context,
    Subparsers,
    now,
    option_time,
    options,
    refuse_bad_rows,
    require_module,
    require_user,
    training_sync,
)
from proxy.csvimport.progress import track_lines
from proxy.csvimport.rows import (
    TRAINING_COLUMNS,
    CompletionChecker,
    CompletionRow,
    RowError,
    Tally,
    open_csv,
    read_rows,
)
from proxy.store.notify import notify_changed
from proxy.store.people import CHUNK, create_missing_users, user_ids
from proxy.store.training import Completion, insert_completions, record_completion

if TYPE_CHECKING:
    import argparse
    from datetime import datetime

    from sqlalchemy.orm import Session


def register(groups: Subparsers) -> None:
    group = groups.add_parser("training", help="import and record training completions")
    commands = group.add_subparsers(dest="command", required=True, metavar="COMMAND")
    store = options(store=True, policy=True)
    importer = commands.add_parser(
        "import",
        parents=[store],
        help="import completions from a CSV: username,module,completed_at",
    )
    importer.add_argument("file", metavar="FILE.csv", type=Path)
    importer.add_argument(
        "--create-users", action="store_true", help="add users the store does not know yet"
    )
    importer.add_argument(
        "--skip-invalid", action="store_true", help="import the good rows, report the bad ones"
    )
    importer.set_defaults(handler=run_import)
    record = commands.add_parser("record", parents=[store], help="record one completion")
    record.add_argument("username", metavar="USERNAME")
    record.add_argument("module", metavar="MODULE")
    record.add_argument("--completed-at", metavar="ISO", help="when (ISO 8601; default: now)")
    record.set_defaults(handler=run_record)
    training_sync.register(commands)


class _Importer:
    """One import: validates rows as they stream in and inserts the good ones in chunks."""

    def __init__(self, session: Session, source: str, moment: datetime, create_users: bool) -> None:
        self.session = session
        self.source = source
        self.now = moment
        self.create_users = create_users
        self.users = user_ids(session)
        self.tally = Tally(created_users=0 if create_users else None)
        self.batch: list[CompletionRow] = []
        self.usernames: set[str] = set()  # whose completions were added or already present

    def add(self, row: CompletionRow) -> None:
        self.batch.append(row)
        if len(self.batch) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        if self.create_users:
            self._create_users({row.username for row in self.batch} - self.users.keys())
        users = self.users
        self.usernames.update(row.username for row in self.batch)
        rows = [Completion(users[r.username], r.module, r.completed_at) for r in self.batch]
        inserted = insert_completions(self.session, rows, self.source, self.now)
        self.tally.imported += inserted
        self.tally.present += len(rows) - inserted
        self.batch.clear()

    def _create_users(self, names: set[str]) -> None:
        if not names:
            return
        create_missing_users(self.session, sorted(names), self.now)
        self.users.update(user_ids(self.session, sorted(names)))
        self.tally.created_users = (self.tally.created_users or 0) + len(names)


def run_import(args: argparse.Namespace, context: Context) -> int:
    path: Path = args.file
    label = path.name
    policy = context.policy()
    moment = now()
    errors: list[RowError] = []
    with open_csv(path, label) as (lines, size), context.transaction() as session:
        rows = read_rows(track_lines(lines, size, label), label, TRAINING_COLUMNS)
        importer = _Importer(session, path.name, moment, args.create_users)
        known = None if args.create_users else importer.users
        checker = CompletionChecker(policy.modules, known, moment)
        for item in rows:
            importer.tally.read += 1
            row = item if isinstance(item, RowError) else checker.parse(*item)
            if isinstance(row, RowError):
                errors.append(row)
            elif args.skip_invalid or not errors:  # once refused, only keep validating
                importer.add(row)
        # Raises (and so rolls the transaction back) when bad rows refuse the file.
        refuse_bad_rows(context, label, errors, importer.tally, skip_invalid=args.skip_invalid)
        importer.flush()
        notify_changed(session, importer.usernames)  # many users: one `all`
    context.say(importer.tally.describe(label))
    return 0


def run_record(args: argparse.Namespace, context: Context) -> int:
    username: str = args.username
    module: str = args.module
    moment = now()
    completed_at = option_time(args.completed_at, "--completed-at", moment)
    if completed_at > moment:
        raise CommandError(f"--completed-at {args.completed_at!r} is in the future")
    require_module(context.policy(), module)
    with context.transaction() as session:
        user = require_user(session, username)
        source = f"leeway training record ({context.settings.operator})"
        added = record_completion(session, user, module, completed_at, source, moment)
        notify_changed(session, [username])
    state = "recorded" if added else "already recorded"
    context.say(f"{username}: {module} completed at {completed_at.isoformat()}: {state}")
    return 0
