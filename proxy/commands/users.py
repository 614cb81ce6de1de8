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
from proxy.store.people import (
    Person,
    email_holder,
    people,
    release_emails,
    save_user,
    upsert_users,
)

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
    rows, errors = _read(path, label, tally)
    with context.transaction() as session:
        existing = people(session)
        rows, taken = _emails_taken(rows, existing)
        errors = sorted([*errors, *taken], key=lambda error: error.line)
        refuse_bad_rows(context, label, errors, tally, skip_invalid=args.skip_invalid)
        changed = _changes(rows, existing, tally)
        release_emails(session, _addresses_moving(changed, existing))
        upsert_users(session, changed, now())
        notify_changed(session, [person.username for person in changed])
    context.say(tally.describe(label))
    return 0


def _read(path: Path, label: str, tally: Tally) -> tuple[list[UserRow], list[RowError]]:
    """The good rows and the bad ones; a username or email repeated in the file is bad."""
    rows: list[UserRow] = []
    errors: list[RowError] = []
    first_line: dict[str, int] = {}
    first_email: dict[str, int] = {}
    with open_csv(path, label) as (lines, size):
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
    return rows, errors


def _emails_taken(
    rows: list[UserRow], existing: dict[str, Person]
) -> tuple[list[UserRow], list[RowError]]:
    """The rows to import, and those whose email another user keeps after the import.

    A user the file leaves out (or refuses) keeps their address; one it names gets the
    file's, so addresses can move and swap between users named in the same file.
    """
    kept, taken = rows, []
    while any(row.email for row in kept):
        named = {row.username for row in kept}
        holders = {
            p.email: p.username for p in existing.values() if p.email and p.username not in named
        }
        refused = {row.line: holders[row.email] for row in kept if row.email in holders}
        if not refused:
            break
        taken += [
            RowError(line, f"email {row.email!r} is already user {refused[line]!r}'s")
            for row in kept
            if (line := row.line) in refused
        ]
        kept = [row for row in kept if row.line not in refused]
    return kept, taken


def _changes(rows: list[UserRow], existing: dict[str, Person], tally: Tally) -> list[Person]:
    """The rows that add or change a user, counted into `tally`."""
    changed: list[Person] = []
    for row in rows:
        before = existing.get(row.username)
        # Without an email column, a user keeps the address they have; an empty cell clears it.
        kept = before.email if before else None
        email = kept if row.email is None else row.email or None
        person = Person(row.username, row.display_name, row.department, email)
        if before == person:
            tally.present += 1
            continue
        if before is None:
            tally.imported += 1
        else:
            tally.updated = (tally.updated or 0) + 1
        changed.append(person)
    return changed


def _addresses_moving(changed: list[Person], existing: dict[str, Person]) -> list[str]:
    """The users whose stored address the import changes or clears."""
    return [
        person.username
        for person in changed
        if (before := existing.get(person.username)) and before.email not in (None, person.email)
    ]


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
