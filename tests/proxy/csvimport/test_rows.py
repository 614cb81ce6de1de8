"""CSV parsing for the imports: header checks, dates, and one clear reason per bad row."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from proxy.csvimport.rows import (
    TRAINING_COLUMNS,
    USER_COLUMNS,
    CompletionChecker,
    CompletionRow,
    ImportRefused,
    RowError,
    Tally,
    UserRow,
    check_department,
    first_bad_byte,
    open_csv,
    parse_timestamp,
    parse_user,
    read_rows,
)

if TYPE_CHECKING:
    from pathlib import Path

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
MODULES = ("social-media-basics", "rich-media-awareness")
KNOWN_USERS = frozenset({"alice"})


def rows(text: str, columns: tuple[str, ...] = TRAINING_COLUMNS) -> list[object]:
    return list(read_rows(io.StringIO(text, newline=""), "t.csv", columns))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2026-03-01", datetime(2026, 3, 1, tzinfo=UTC), id="date -> midnight UTC"),
        pytest.param(
            "2026-03-01T09:30:00+01:00",
            datetime(2026, 3, 1, 8, 30, tzinfo=UTC),
            id="offset -> converted to UTC",
        ),
        pytest.param(
            "2026-03-01 09:30", datetime(2026, 3, 1, 9, 30, tzinfo=UTC), id="naive time -> UTC"
        ),
        pytest.param("2026-03-01T23:30:00Z", datetime(2026, 3, 1, 23, 30, tzinfo=UTC), id="Z"),
        pytest.param(
            "2026-03-01T00:30:00-05:00",
            datetime(2026, 3, 1, 5, 30, tzinfo=UTC),
            id="negative offset",
        ),
    ],
)
def test_timestamps_become_aware_utc(text: str, expected: datetime) -> None:
    parsed = parse_timestamp(text, "completed_at")
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("text", ["2026-13-01", "", "yesterday", "01/03/2026", "2026-02-30"])
def test_bad_timestamps_name_the_field_value_and_form(text: str) -> None:
    with pytest.raises(ValueError, match="bad date") as caught:
        parse_timestamp(text, "completed_at")
    assert str(caught.value) == (
        f"bad date {text!r} in completed_at"
        " (expected ISO 8601, e.g. 2026-03-01 or 2026-03-01T09:30:00+01:00)"
    )


def test_rows_come_with_their_line_numbers_in_column_order() -> None:
    text = "completed_at, module ,username\n2026-01-01,m,alice\n\n2026-01-02,m,bob\n"
    assert rows(text) == [(2, ["alice", "m", "2026-01-01"]), (4, ["bob", "m", "2026-01-02"])]


def test_a_quoted_field_over_two_lines_counts_both() -> None:
    text = 'username,display_name,department\n"al\nice",A,B\nbob,B,C\n'
    assert rows(text, USER_COLUMNS) == [(3, ["al\nice", "A", "B"]), (4, ["bob", "B", "C"])]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("username,module", "missing 'completed_at'"),
        ("username,module,completed_at,score", "unexpected 'score'"),
        ("username,module,completed_at,module", "repeated 'module'"),
        ("user,module,completed_at", "missing 'username'; unexpected 'user'"),
    ],
)
def test_a_wrong_header_is_refused_naming_the_columns(header: str, message: str) -> None:
    with pytest.raises(ImportRefused) as caught:
        rows(f"{header}\nalice,m,2026-01-01\n")
    assert str(caught.value).startswith(f"t.csv: line 1: bad header: {message}")
    assert str(caught.value).endswith("(expected username,module,completed_at)")


def test_an_empty_file_is_refused() -> None:
    with pytest.raises(ImportRefused, match=r"t\.csv: empty file: expected the header line"):
        rows("")


def test_a_bom_and_spaces_around_header_names_are_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"\xef\xbb\xbf username , module,completed_at\r\nalice,m,2026-01-01\r\n")
    with open_csv(path, "t.csv") as (lines, size):
        assert size == path.stat().st_size
        assert list(read_rows(lines, "t.csv", TRAINING_COLUMNS)) == [
            (2, ["alice", "m", "2026-01-01"])
        ]


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"username,module,completed_at\nj\xf6rg,m,2026-01-01\n")
    with pytest.raises(ImportRefused, match="not UTF-8"), open_csv(path, "t.csv") as (lines, _):
        list(read_rows(lines, "t.csv", TRAINING_COLUMNS))


@pytest.mark.parametrize(
    ("newline", "lines_before", "bom"),
    [
        pytest.param("\n", 6, b"", id="LF, line 7"),
        pytest.param("\r\n", 6, b"\xef\xbb\xbf", id="CR LF and a BOM, line 7"),
        pytest.param("\r", 6, b"", id="lone CR, line 7"),
        pytest.param("\n", 4_999, b"", id="beyond the decoder's first block, line 5000"),
    ],
)
def test_a_byte_that_is_not_utf8_is_reported_at_its_line(
    tmp_path: Path, newline: str, lines_before: int, bom: bytes
) -> None:
    rows = [f"user{n},m,2026-01-01" for n in range(lines_before - 1)]
    text = newline.join(["username,module,completed_at", *rows, ""])
    after = newline.join(["b\u00e9a,m,2026-01-01", "zo\u00eb,m,2026-01-01", ""])
    content = bom + text.encode() + "j\u00f6rg,m,2026-01-01".encode("latin-1") + newline.encode()
    content += after.encode()
    path = tmp_path / "t.csv"
    path.write_bytes(content)
    with pytest.raises(ImportRefused) as caught, open_csv(path, "t.csv") as (lines, _):
        list(read_rows(lines, "t.csv", TRAINING_COLUMNS))
    offset = content.index(b"\xf6")
    assert str(caught.value) == (
        f"t.csv: line {lines_before + 1}: not UTF-8 text: byte 0xf6 at offset {offset}"
        " (save the file as UTF-8)"
    )
    assert first_bad_byte(path) == (lines_before + 1, offset, 0xF6)


def test_a_utf8_file_has_no_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("username\nj\u00f6rg\r\nb\u00e9a\rzo\u00eb\n", encoding="utf-8-sig")
    assert first_bad_byte(path) is None


def test_a_missing_file_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ImportRefused, match=r"t\.csv: cannot read .*No such file"):  # noqa: SIM117
        with open_csv(tmp_path / "t.csv", "t.csv"):
            pass


def test_rows_with_the_wrong_number_of_fields_are_bad_rows() -> None:
    assert rows("username,module,completed_at\nalice,m\nbob,m,2026-01-01,x\n") == [
        RowError(2, "expected 3 fields (username,module,completed_at), got 2"),
        RowError(3, "expected 3 fields (username,module,completed_at), got 4"),
    ]


def test_broken_csv_quoting_is_refused_with_the_line() -> None:
    with pytest.raises(ImportRefused, match=r"t\.csv: line 2: not valid CSV"):
        rows('username,module,completed_at\n"alice"x,m,2026-01-01\n')


@pytest.mark.parametrize(
    "department", ["", "Comms & Media", "IT (Ops)/Desk-2", "O'Brien's team, North", "Bürgerbüro"]
)
def test_departments_allow_letters_digits_spaces_and_some_marks(department: str) -> None:
    assert check_department(department) is None


@pytest.mark.parametrize("department", ["Sales; DROP", "a<b>", "x" * 101, "tab\there"])
def test_other_departments_are_refused(department: str) -> None:
    assert check_department(department) is not None


def test_user_rows_turn_empty_fields_into_none() -> None:
    assert parse_user(5, ["alice", "", ""]) == UserRow(5, "alice", None, None)
    assert parse_user(6, ["bob", "Bob B", "HR"]) == UserRow(6, "bob", "Bob B", "HR")


def test_a_user_rows_email_says_whether_the_file_has_the_column() -> None:
    # Absent: leave the stored address alone; present but empty: clear it.
    assert parse_user(2, ["ana", "", ""]).email is None  # type: ignore[union-attr]
    assert parse_user(3, ["ana", "", "", ""]) == UserRow(3, "ana", None, None, "")
    assert parse_user(4, ["ana", "", "", "Ana@Example.org"]) == UserRow(
        4, "ana", None, None, "ana@example.org"
    )


def test_a_bad_user_row_gives_every_reason() -> None:
    error = parse_user(7, ["", "x" * 256, "R&D;"])
    assert isinstance(error, RowError)
    assert error.line == 7
    assert "empty username" in error.message
    assert "display_name" in error.message
    assert "bad department 'R&D;'" in error.message


def checker(users: frozenset[str] | None = KNOWN_USERS) -> CompletionChecker:
    return CompletionChecker(MODULES, users, NOW)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        pytest.param(["", "social-media-basics", "2026-01-01"], "empty username", id="empty"),
        pytest.param(
            ["bob", "social-media-basics", "2026-01-01"],
            "unknown user 'bob' (import them first, or use --create-users)",
            id="unknown user",
        ),
        pytest.param(
            ["alice", "knitting", "2026-01-01"],
            "unknown module 'knitting' (known: rich-media-awareness, social-media-basics)",
            id="unknown module",
        ),
        pytest.param(
            ["alice", "social-media-basics", "2026-13-01"],
            "bad date '2026-13-01' in completed_at (expected ISO 8601, e.g. 2026-03-01"
            " or 2026-03-01T09:30:00+01:00)",
            id="bad date",
        ),
        pytest.param(
            ["alice", "social-media-basics", "2026-06-02"],
            "completed_at '2026-06-02' is in the future",
            id="future",
        ),
    ],
)
def test_each_kind_of_bad_training_row(values: list[str], message: str) -> None:
    assert checker().parse(9, values) == RowError(9, message)


def test_unknown_users_pass_when_they_will_be_created() -> None:
    row = checker(None).parse(3, ["bob", "social-media-basics", "2026-01-01T10:00:00+02:00"])
    assert row == CompletionRow(
        3, "bob", "social-media-basics", datetime(2026, 1, 1, 8, tzinfo=UTC)
    )


def test_the_summary_line_names_every_count() -> None:
    tally = Tally(read=5, imported=2, present=1, skipped=2, created_users=1)
    assert tally.describe("t.csv") == (
        "t.csv: 5 rows read, 2 imported, 1 already present, 2 skipped, 1 users created"
    )
