"""aligned and when: the one table layout and time format of every command's plain text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from proxy.plain_text import aligned, printable, when


def test_every_column_to_the_left_unless_told_and_no_trailing_spaces() -> None:
    rows = [("user", "ada (Finance)"), ("URL host", "www.facebook.com"), ("rule", "")]
    assert aligned(rows) == ["user      ada (Finance)", "URL host  www.facebook.com", "rule"]


def test_numbers_to_the_right_after_the_first_left_columns() -> None:
    rows = [["module", "group", "trained", "share"], ["basics", "other", "7", "70.0%"]]
    assert aligned(rows, left=2) == [
        "module  group  trained  share",
        "basics  other        7  70.0%",
    ]


def test_an_indent_and_no_rows() -> None:
    assert aligned([("social", "2 domains"), ("video", "1 domain")], indent="  ") == [
        "  social  2 domains",
        "  video   1 domain",
    ]
    assert aligned([]) == []


def test_when_is_utc_to_the_minute_or_the_second() -> None:
    moment = datetime(2026, 6, 15, 12, 0, 7, tzinfo=UTC)
    assert when(moment) == "2026-06-15 12:00 UTC"
    assert when(moment, seconds=True) == "2026-06-15 12:00:07 UTC"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        pytest.param("plain, café, 北京", "plain, café, 北京", id="printable text unchanged"),
        pytest.param("a\nb\r\tc", "a\\nb\\r\\tc", id="line breaks and tabs"),
        pytest.param("\x1b[2J\x1b[31mred", "\\x1b[2J\\x1b[31mred", id="ANSI escapes"),
        pytest.param("\x9b31m \x7f", "\\x9b31m \\x7f", id="C1 control and DEL"),
        pytest.param("\u202egnp.exe", "\\u202egnp.exe", id="bidi override"),
        pytest.param("a\u2028b\u2029c", "a\\u2028b\\u2029c", id="line and paragraph separators"),
        pytest.param("zero\u200bwidth", "zero\\u200bwidth", id="zero-width space"),
        pytest.param("\\n is not a newline", "\\\\n is not a newline", id="backslash doubled"),
    ],
)
def test_printable_escapes_what_would_move_or_forge_the_screen(text: str, shown: str) -> None:
    assert printable(text) == shown
