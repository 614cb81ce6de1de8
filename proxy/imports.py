"""Reading the CSV files that `leeway users import` and `leeway training import` take.

Pure parsing and validation: rows come out as values or as `RowError`s with line numbers.
"""

from __future__ import annotations

import csv
import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NamedTuple, TextIO

if TYPE_CHECKING:
    from _csv import Reader
    from collections.abc import Collection, Container, Iterable, Iterator
    from pathlib import Path

USER_COLUMNS = ("username", "display_name", "department")
TRAINING_COLUMNS = ("username", "module", "completed_at")
MAX_USERNAME = 255
MAX_DISPLAY_NAME = 255
MAX_DEPARTMENT = 100
ISO_EXAMPLES = "expected ISO 8601, e.g. 2026-03-01 or 2026-03-01T09:30:00+01:00"
_DEPARTMENT_MARKS = frozenset(" &-_./()',")
_BAD_USERNAME = re.compile(r"[\s\x00-\x1f\x7f]")


class ImportRefused(ValueError):
    """A file that cannot be imported at all (unreadable, bad header); names the file."""

    def __init__(self, label: str, message: str) -> None:
        super().__init__(f"{label}: {message}")


@dataclass(frozen=True, slots=True)
class RowError:
    """A bad row: its line in the file (the header is line 1) and every reason."""

    line: int
    message: str

    def describe(self, label: str) -> str:
        return f"{label}: line {self.line}: {self.message}"


class UserRow(NamedTuple):
    line: int
    username: str
    display_name: str | None
    department: str | None


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


@contextmanager
def open_csv(path: Path, label: str) -> Iterator[tuple[TextIO, int]]:
    """The file as text lines (a UTF-8 BOM dropped) and its size in bytes."""
    try:
        lines = path.open(encoding="utf-8-sig", newline="")
    except OSError as e:
        raise ImportRefused(label, f"cannot read {path}: {e.strerror}") from None
    with lines:
        yield lines, path.stat().st_size


def read_rows(
    lines: Iterable[str], label: str, columns: tuple[str, ...]
) -> Iterator[tuple[int, list[str]] | RowError]:
    """The data rows of a CSV, as (line, values in `columns` order), after checking the header.

    The header is checked at once: ImportRefused if it is missing or wrong. A row with the
    wrong number of fields comes out as a RowError; blank lines are skipped.
    """
    reader = csv.reader(lines, strict=True)
    try:
        header = next(reader, None)
    except (csv.Error, UnicodeDecodeError) as e:
        raise _unreadable(e, reader, label) from None
    return _rows(reader, label, _header_order(header, label, columns), columns)


def _rows(
    reader: Reader, label: str, order: list[int], columns: tuple[str, ...]
) -> Iterator[tuple[int, list[str]] | RowError]:
    width = len(columns)
    expected = f"expected {width} fields ({','.join(columns)})"
    try:
        for values in reader:
            if len(values) == width:
                yield reader.line_num, [values[i].strip() for i in order]
            elif values:
                yield RowError(reader.line_num, f"{expected}, got {len(values)}")
    except (csv.Error, UnicodeDecodeError) as e:
        raise _unreadable(e, reader, label) from None


def _unreadable(error: Exception, reader: Reader, label: str) -> ImportRefused:
    if isinstance(error, UnicodeDecodeError):
        where = f"near line {reader.line_num + 1}"
        return ImportRefused(label, f"{where}: not UTF-8 text (save the file as UTF-8)")
    return ImportRefused(label, f"line {reader.line_num}: not valid CSV: {error}")


def _header_order(header: list[str] | None, label: str, columns: tuple[str, ...]) -> list[int]:
    """For each expected column, its index in the file; ImportRefused naming any difference."""
    wanted = ",".join(columns)
    if header is None:
        raise ImportRefused(label, f"empty file: expected the header line {wanted}")
    names = [name.strip() for name in header]
    if names and names[0].startswith("\ufeff"):
        names[0] = names[0][1:].strip()
    missing = [c for c in columns if c not in names]
    extra = [n for n in names if n not in columns]
    twice = sorted({n for n in names if names.count(n) > 1})
    problems = [
        f"{what} {', '.join(repr(c) for c in cols)}"
        for what, cols in (("missing", missing), ("unexpected", extra), ("repeated", twice))
        if cols
    ]
    if problems:
        raise ImportRefused(label, f"line 1: bad header: {'; '.join(problems)} (expected {wanted})")
    return [names.index(c) for c in columns]


def parse_user(line: int, values: list[str]) -> UserRow | RowError:
    username, display_name, department = values
    problems = [p for p in (check_username(username), _display_name_problem(display_name)) if p]
    if department and (problem := check_department(department)):
        problems.append(problem)
    if problems:
        return RowError(line, "; ".join(problems))
    return UserRow(line, username, display_name or None, department or None)


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
