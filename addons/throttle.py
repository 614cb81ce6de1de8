"""Slows guessing: failed sign-ins counted per username and client address.

The rule: after `limit` failed checks (default 5) for one username from one address within
`window` seconds (default 60), further attempts for that username from that address get
407 at once, without a check, until the oldest failure is older than the window. The same
username from any other address is still checked, so nobody can lock the real person out
by failing on purpose from elsewhere; a success from an address forgets its failures.
Usernames are compared case-insensitively (`Alice` and `alice` are one person).
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable

LIMIT = 5
WINDOW = 60.0


class FailureThrottle:
    """Failed sign-ins by (username, client address), bounded to `max_entries` pairs."""

    def __init__(
        self,
        *,
        limit: int = LIMIT,
        window: float = WINDOW,
        max_entries: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_entries = max_entries
        self.clock = clock
        self._failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._failures)

    def blocked(self, username: str, client: str) -> bool:
        """Whether attempts for `username` from `client` get 407 without a check for now."""
        times = self._failures.get(_pair(username, client))
        if times is None or len(times) < self.limit:
            return False
        return self.clock() - times[0] < self.window

    def failed(self, username: str, client: str) -> None:
        """Count a wrong password (or unknown user) for `username` from `client`."""
        pair = _pair(username, client)
        now = self.clock()
        times = self._failures.get(pair)
        if times is None:
            times = self._failures[pair] = deque(maxlen=self.limit)
        while times and now - times[0] >= self.window:
            times.popleft()
        times.append(now)
        self._failures.move_to_end(pair)
        while len(self._failures) > self.max_entries:
            self._failures.popitem(last=False)

    def succeeded(self, username: str, client: str) -> None:
        """The person got in from `client`: their failures from there are forgotten."""
        self._failures.pop(_pair(username, client), None)


def _pair(username: str, client: str) -> tuple[str, str]:
    return username.casefold(), client
