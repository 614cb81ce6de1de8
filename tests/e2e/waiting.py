"""Bounded waiting for what a running proxy does in the background."""

from __future__ import annotations

import time
from collections.abc import Callable


def eventually[T](probe: Callable[[], T], done: Callable[[T], bool], within: float) -> T:
    """Call `probe` until `done` holds of its result, for at most `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = probe()
        if done(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.2)
