"""The one way tests wait: for a condition, within a bound, failing with what was awaited.

`eventually(probe, "what", until=..., within=...)` calls `probe` until `until` holds of its
result (by default: the result is truthy) and returns that result; `eventually_async` does
the same in a coroutine, letting the event loop run between calls. Past `within` seconds
both fail with an `AssertionError` that names `what` and shows the last result. Polls
start fast (10 ms) and slow down to 0.2 s, so a quick condition costs little time and a
slow one little load.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

FIRST_POLL = 0.01
LAST_POLL = 0.2


def eventually[T](
    probe: Callable[[], T],
    what: str,
    *,
    until: Callable[[T], object] = bool,
    within: float = 5.0,
) -> T:
    """`probe()` once `until` holds of it; `AssertionError` naming `what` after `within` s."""
    deadline = time.monotonic() + within
    for pause in _polls():
        result = probe()
        if until(result):
            return result
        _check_deadline(deadline, within, what, result)
        time.sleep(pause)
    raise AssertionError("unreachable")  # _polls never ends


async def eventually_async[T](
    probe: Callable[[], T],
    what: str,
    *,
    until: Callable[[T], object] = bool,
    within: float = 5.0,
) -> T:
    """`eventually` for a coroutine: the loop runs (other tasks, callbacks) between probes."""
    deadline = time.monotonic() + within
    for pause in _polls():
        result = probe()
        if until(result):
            return result
        _check_deadline(deadline, within, what, result)
        await asyncio.sleep(pause)
    raise AssertionError("unreachable")


def _polls() -> Iterator[float]:
    pause = FIRST_POLL
    while True:
        yield pause
        pause = min(pause * 2, LAST_POLL)


def _check_deadline(deadline: float, within: float, what: str, last: object) -> None:
    if time.monotonic() > deadline:
        raise AssertionError(f"not within {within} s: {what} (last seen: {last!r:.300})")
