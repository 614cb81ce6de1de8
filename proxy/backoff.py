"""The wait after a store failure before the next try: one rule for every part that retries.

Fixed (`Backoff(5.0)`) or doubling from `first` up to `most` (`Backoff(1.0, 30.0)`); a
success ends the outage and starts the next one again at `first`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


class Backoff:
    """Whether to try now, after how many failures in a row: not thread-safe, one user each."""

    def __init__(
        self,
        first: float,
        most: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        most = first if most is None else most
        if not 0 <= first <= most:
            raise ValueError(f"back-off: expected 0 <= first <= most, got {first} and {most}")
        self._first, self._most = first, most
        self._clock = clock
        self._delay = first  # the wait after the next failure
        self._retry_at: float | None = None  # set while failing

    @property
    def failing(self) -> bool:
        """Whether the last try failed (an outage is on)."""
        return self._retry_at is not None

    def failed(self) -> float:
        """Count a failure: no try for the returned seconds, and a longer wait next time."""
        delay = self._delay
        self._retry_at = self._clock() + delay
        self._delay = min(delay * 2, self._most)
        return delay

    def succeeded(self) -> None:
        """End the outage: try at once, and wait `first` again after the next failure."""
        self._retry_at = None
        self._delay = self._first

    def retry_now(self) -> None:
        """Allow a try at once without ending the outage (something shows the store is back)."""
        if self._retry_at is not None:
            self._retry_at = self._clock()

    def wait(self) -> float:
        """Seconds until a try is due: 0 when not failing or when the wait is over."""
        if self._retry_at is None:
            return 0.0
        return max(0.0, self._retry_at - self._clock())

    def ready(self) -> bool:
        """Whether to try now."""
        return self._retry_at is None or self._clock() >= self._retry_at
