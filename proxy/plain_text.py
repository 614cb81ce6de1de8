"""Plain text for a terminal, the same in every command: aligned columns and UTC times.

Scripts read the JSON and CSV outputs; these are for people, but kept stable all the same.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

GAP = "  "  # between two columns
# Control (C0, DEL, C1), format (bidi overrides, zero-width) and line and paragraph separators:
# shown raw, they move the cursor, recolour or reorder the screen, or forge a line.
_UNPRINTABLE = frozenset({"Cc", "Cf", "Zl", "Zp"})


def aligned(
    rows: Sequence[Sequence[str]], *, left: int | None = None, indent: str = ""
) -> list[str]:
    """`rows` (a header is just the first) as lines, each column padded to its widest cell.

    The first `left` columns (None: all) are aligned to the left, the rest (numbers) to the
    right; each line starts with `indent` and has no trailing spaces.
    """
    if not rows:
        return []
    columns = len(rows[0])
    widths = [max(len(row[i]) for row in rows) for i in range(columns)]
    flush_left = columns if left is None else left
    return [
        indent
        + GAP.join(
            cell.ljust(width) if i < flush_left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]


def when(moment: datetime, *, seconds: bool = False) -> str:
    """`moment` to the minute (or the second), as `2026-06-15 12:00 UTC`."""
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


def printable(text: str) -> str:
    """`text` safe to print in a terminal: every control or format character, and the line
    separators, escaped as Python writes them (`\\n`, `\\x1b`, `\\u202e`); `\\` doubled."""
    return "".join(_escaped(ch) for ch in text)


def _escaped(ch: str) -> str:
    if ch == "\\" or unicodedata.category(ch) in _UNPRINTABLE:
        return ch.encode("unicode_escape").decode("ascii")
    return ch
