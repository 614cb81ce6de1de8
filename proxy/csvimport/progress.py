"""A progress bar for long imports: on stderr, and only when stderr is a terminal.

Scripts and pipes see nothing; the bar never mixes with the summary on stdout.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

MIN_BYTES = 1_000_000  # smaller files import in a blink: no bar
WIDTH = 30
REDRAW_EVERY = 0.2  # seconds
CHECK_EVERY = 4096  # lines between looks at the clock


def track_lines(
    lines: Iterable[str], total_bytes: int, label: str, stream: TextIO | None = None
) -> Iterable[str]:
    """`lines` unchanged, drawing how far through `total_bytes` they are as they are read."""
    out = sys.stderr if stream is None else stream
    if total_bytes < MIN_BYTES or not _is_terminal(out):
        return lines
    return _tracked(lines, total_bytes, label, out)


def _tracked(lines: Iterable[str], total: int, label: str, out: TextIO) -> Iterator[str]:
    done = 0
    next_draw = 0.0
    try:
        for count, line in enumerate(lines):
            done += len(line)  # characters, close enough to bytes for a bar
            if count % CHECK_EVERY == 0 and (now := time.monotonic()) >= next_draw:
                draw(out, label, done, total)
                next_draw = now + REDRAW_EVERY
            yield line
        draw(out, label, total, total)
    finally:
        out.write("\n")
        out.flush()


def draw(out: TextIO, label: str, done: int, total: int) -> None:
    """Redraw the bar in place: `label [#####.....]  42%`."""
    fraction = min(done / total, 1.0) if total else 1.0
    filled = round(WIDTH * fraction)
    out.write(f"\r{label} [{'#' * filled}{'.' * (WIDTH - filled)}] {fraction:4.0%}")
    out.flush()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except ValueError:  # closed
        return False
