"""The import progress bar: drawn on a terminal, silent everywhere else."""

from __future__ import annotations

import io

from proxy.csvimport.progress import MIN_BYTES, track_lines


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


LINES = [f"user{n},module,2026-01-01\n" for n in range(50_000)]
SIZE = sum(map(len, LINES))


def test_nothing_is_drawn_when_stderr_is_not_a_terminal() -> None:
    stream = io.StringIO()
    assert track_lines(LINES, SIZE, "t.csv", stream) is LINES
    assert stream.getvalue() == ""


def test_small_files_get_no_bar() -> None:
    stream = Terminal()
    assert track_lines(LINES[:10], 300, "t.csv", stream) == LINES[:10]
    assert stream.getvalue() == ""


def test_a_terminal_sees_the_bar_reach_100_percent() -> None:
    assert SIZE >= MIN_BYTES
    stream = Terminal()
    assert list(track_lines(LINES, SIZE, "t.csv", stream)) == LINES
    drawn = stream.getvalue()
    assert drawn.startswith("\rt.csv [")
    assert drawn.endswith(f"\rt.csv [{'#' * 30}] 100%\n")
