"""Reading the CSV files that `leeway users import` and `leeway training import` take.

Pure parsing and validation: rows come out as values or as `RowError`s with line numbers
(reading the file itself is `proxy.csvimport.reader`, whose names are re-exported here).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NamedTuple

# Re-exported (`X as X`): the commands and tests import them from here.
from proxy.csvimport.reader import ImportRefused as ImportRefused
from proxy.csvimport.reader import RowError as RowError
from proxy.csvimport.reader import first_bad_byte as first_bad_byte
from proxy.csvimport.reader import open_csv as open_csv
from proxy.csvimport.reader import read_rows as read_rows

if TYPE_CHECKING:
    from collections.abc import Collection, Container

USER_COLUMNS = ("username", "display_name", "department")
USER_OPTIONAL = ("email",)  # how the learning record store names people
TRAINING_COLUMNS = ("username", "module", "completed_at")
MAX_USERNAME = 255
MAX_DISPLAY_NAME = 255
MAX_DEPARTMENT = 100
ISO_EXAMPLES = "expected ISO 8601, e.g. 2026-03-01 or 2026-03-01T09:30:00+01:00"
_DEPARTMENT_MARKS = frozenset(" &-_./()',")
_BAD_USERNAME = re.compile(r"[\s\x00-\x1f\x7f]")


class UserRow(NamedTuple):
    line: int
    username: str
    display_name: str | None
    department: str | None
    email: str | None = None  # lower-case; "" clears it; None: the file has no email column


class CompletionRow(NamedTuple):
    line: int
    username: str
    module: str
    completed_at: datetime


def parse_timestamp(text: str, field: str) -> datetime:
    """An ISO 8601 date or date-time as aware UTC: a bare date is midnight UTC, a naive time UTC.

    Raises ValueError naming the field, the value and the expected form.
    """
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"bad date {text!r} in {field} ({ISO_EXAMPLES})") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def check_username(username: str) -> str | None:
    """Why `username` cannot be a user name, or None if it can."""
    if not username:
        return "empty username"
    if len(username) > MAX_USERNAME:
        return f"username {username[:40]!r}... is longer than {MAX_USERNAME} characters"
    if _BAD_USERNAME.search(username):
        return f"username {username!r} contains spaces or control characters"
    return None


def check_department(department: str) -> str | None:
    """Why `department` is not acceptable, or None (letters, digits, spaces and &-_./()',)."""
    if len(department) > MAX_DEPARTMENT:
        return f"department {department[:40]!r}... is longer than {MAX_DEPARTMENT} characters"
    if all(c.isalnum() or c in _DEPARTMENT_MARKS for c in department):
        return None
    bad = "".join(sorted({c for c in department if not c.isalnum() and c not in _DEPARTMENT_MARKS}))
    return (
        f"bad department {department!r}: {bad!r} not allowed"
        " (use letters, digits, spaces and & - _ . / ( ) ' ,)"
    )


MAX_EMAIL = 320


def check_email(email: str) -> str | None:
    """Why `email` is not an e-mail address (`name@domain`, no spaces), or None."""
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in email):
        return f"email {email[:60]!r} is not an e-mail address such as ana@example.org"
    if len(email) > MAX_EMAIL:
        return f"email {email[:40]!r}... is longer than {MAX_EMAIL} characters"
    return None


def parse_user(line: int, values: list[str]) -> UserRow | RowError:
    username, display_name, department, *rest = values
    email = rest[0].lower() if rest else None
    problems = [p for p in (check_username(username), _display_name_problem(display_name)) if p]
    if department and (problem := check_department(department)):
        problems.append(problem)
    if email and (problem := check_email(email)):
        problems.append(problem)
    if problems:
        return RowError(line, "; ".join(problems))
    return UserRow(line, username, display_name or None, department or None, email)


def _display_name_problem(display_name: str) -> str | None:
    if len(display_name) > MAX_DISPLAY_NAME:
        return f"display_name {display_name[:40]!r}... is longer than {MAX_DISPLAY_NAME} characters"
    return None


class CompletionChecker:
    """Validates training rows against the policy's modules and the store's users."""

    def __init__(
        self, modules: Collection[str], users: Container[str] | None, now: datetime
    ) -> None:
        self._modules = modules
        self._known_modules = ", ".join(sorted(modules)) or "none"
        self._users = users  # None: any user will be created
        self._now = now

    def parse(self, line: int, values: list[str]) -> CompletionRow | RowError:
        username, module, when = values
        problems: list[str] = []
        if problem := check_username(username):
            problems.append(problem)
        elif self._users is not None and username not in self._users:
            problems.append(f"unknown user {username!r} (import them first, or use --create-users)")
        if module not in self._modules:
            problems.append(f"unknown module {module!r} (known: {self._known_modules})")
        try:
            completed_at = parse_timestamp(when, "completed_at")
        except ValueError as e:
            problems.append(str(e))
        else:
            if completed_at > self._now:
                problems.append(f"completed_at {when!r} is in the future")
        if problems:
            return RowError(line, "; ".join(problems))
        return CompletionRow(line, username, module, completed_at)


@dataclass(slots=True)
class Tally:
    """What an import did, for its summary line."""

    read: int = 0
    imported: int = 0
    present: int = 0
    skipped: int = 0
    updated: int | None = None  # users import only
    created_users: int | None = None  # training import with --create-users only

    def describe(self, label: str) -> str:
        parts = [f"{self.read} rows read", f"{self.imported} imported"]
        if self.updated is not None:
            parts.append(f"{self.updated} updated")
        parts += [f"{self.present} already present", f"{self.skipped} skipped"]
        if self.created_users is not None:
            parts.append(f"{self.created_users} users created")
        return f"{label}: {', '.join(parts)}"
