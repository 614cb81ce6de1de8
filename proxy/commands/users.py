"""`leeway users import FILE.csv` and `leeway users add USERNAME`: the people in the store.

An import adds new users and updates names and departments; the same file twice changes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from proxy.commands import (
    CommandError,
    Context,
    Subparsers,
    now,
    options,
    refuse_bad_rows,
    users_sync,
)
from proxy.csvimport.progress import track_lines
from proxy.csvimport.rows import (
    MAX_DISPLAY_NAME,
    USER_COLUMNS,
    USER_OPTIONAL,
    RowError,
    Tally,
    UserRow,
    check_department,
    check_email,
    check_username,
    open_csv,
    parse_user,
    read_rows,
)
from proxy.store.notify import notify_changed
from proxy.store.people import Person, email_holder, people, save_user, upsert_users

if TYPE_CHECKING:
    import argparse


def register(groups: Subparsers) -> None:
    group = groups.add_parser("users", help="add, import and sync users")
    commands = group.add_subparsers(dest="command", required=True, metavar="COMMAND")
    store = options(store=True, policy=True)
    importer = commands.add_parser(
        "import", parents=[store], help="import users from a CSV: username,display_name,department"
    )
    importer.add_argument("file", metavar="FILE.csv", type=Path)
    importer.add_argument(
        "--skip-invalid", action="store_true", help="import the good rows, report the bad ones"
    )
    importer.set_defaults(handler=run_import)
    add = commands.add_parser("add", parents=[store], help="add a user, or change one")
    add.add_argument("username", metavar="USERNAME")
    add.add_argument("--department", metavar="D", help="letters, digits, spaces and &-_./()',")
    add.add_argument("--display-name", metavar="N", help="the name shown in reports")
    add.add_argument(
        "--email",
        metavar="ADDRESS",
        help="e-mail address: how the learning record store names them",
    )
    add.set_defaults(handler=run_add)
    users_sync.register(commands)


def run_import(args: argparse.Namespace, context: Context) -> int:
    path: Path = args.file
    label = path.name
    tally = Tally(updated=0)
    rows: list[UserRow] = []
    errors: list[RowError] = []
    with open_csv(path, label) as (lines, size):
        first_line: dict[str, int] = {}
        first_email: dict[str, int] = {}
        rows_in = read_rows(track_lines(lines, size, label), label, USER_COLUMNS, USER_OPTIONAL)
        for item in rows_in:
            tally.read += 1
            row = item if isinstance(item, RowError) else parse_user(*item)
            if isinstance(row, UserRow) and row.username in first_line:
                first = first_line[row.username]
                row = RowError(
                    row.line, f"username {row.username!r} repeated (first on line {first})"
                )
            if isinstance(row, UserRow) and row.email and row.email in first_email:
                first = first_email[row.email]
                row = RowError(row.line, f"email {row.email!r} repeated (first on line {first})")
            if isinstance(row, RowError):
                errors.append(row)
                continue
            first_line[row.username] = row.line
            if row.email:
                first_email[row.email] = row.line
            rows.append(row)
    refuse_bad_rows(context, label, errors, tally, skip_invalid=args.skip_invalid)
    with context.transaction() as session:
        changed = _changes(rows, people(session), tally)
        upsert_users(session, changed, now())
        notify_changed(session, [person.username for person in changed])
    context.say(tally.describe(label))
    return 0


def _changes(rows: list[UserRow], existing: dict[str, Person], tally: Tally) -> list[Person]:
    """The rows that add or change a user, counted into `tally`."""
    changed: list[Person] = []
    holders = {p.email: p.username for p in existing.values() if p.email}
    for row in rows:
        before = existing.get(row.username)
        # Without an email column, a user keeps the address they have.
        email = row.email if row.email is not None else (before.email if before else None)
        person = Person(row.username, row.display_name, row.department, email)
        holder = holders.get(email) if email else None
        if holder is not None and holder != row.username:
            raise CommandError(f"line {row.line}: email {email!r} is already user {holder!r}'s")
        if before == person:
            tally.present += 1
            continue
        if before is None:
            tally.imported += 1
        else:
            tally.updated = (tally.updated or 0) + 1
        changed.append(person)
    return changed


def run_add(args: argparse.Namespace, context: Context) -> int:
    username: str = args.username
    department: str | None = args.department
    problems = [check_username(username)]
    if department:
        problems.append(check_department(department))
    if args.display_name is not None and len(args.display_name) > MAX_DISPLAY_NAME:
        problems.append(f"--display-name is longer than {MAX_DISPLAY_NAME} characters")
    email = args.email.strip().lower() if args.email is not None else None
    if email and (problem := check_email(email)):
        problems.append(problem)
    if refused := [p for p in problems if p]:
        raise CommandError("; ".join(refused))
    # Given but empty means "none"; not given means "leave as it is".
    changes = {
        field: value or None
        for field, value in (
            ("display_name", args.display_name),
            ("department", department),
            ("email", email),
        )
        if value is not None
    }
    with context.transaction() as session:
        if email and (holder := email_holder(session, email)) not in (None, username):
            raise CommandError(f"--email {email!r} is already the address of user {holder!r}")
        change = save_user(session, username, now(), changes)
        notify_changed(session, [username])
    context.say(f"user {username}: {change}")
    return 0
