"""Remember successful sign-in checks for a short while, by a keyed hash of the credentials.

A plain-HTTP client sends its credentials with every request, and a bcrypt check or a
directory bind costs milliseconds to a third of a second: a login that passed is
answered from here, with the person's canonical username. Younger than `ttl` it is fresh;
older (up to `max_age`) it is stale: still answered, while the caller checks it again in
the background, so a changed password or a removed account is refused one check later and
nobody waits for the re-check. Only an HMAC of the credentials (with a key made per
process) is kept, never the password.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Passed:
    username: str
    stale: bool  # older than the ttl: to be checked again


class PassedLogins:
    """Credential digests -> the canonical username they signed in as, and when."""

    def __init__(
        self,
        *,
        ttl: float = 120.0,
        max_age: float = 600.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_age = max(max_age, ttl)
        self.max_entries = max_entries
        self.clock = clock
        self._salt = secrets.token_bytes(16)
        self._passed: OrderedDict[bytes, tuple[float, str]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._passed)

    def key(self, username: str, password: str) -> bytes:
        """The digest that stands for these credentials in this process."""
        message = username.encode("utf-8", "surrogatepass") + b"\0"
        message += password.encode("utf-8", "surrogatepass")
        return hmac.new(self._salt, message, hashlib.sha256).digest()

    def get(self, key: bytes) -> Passed | None:
        """The username these credentials passed as, while younger than `max_age`."""
        entry = self._passed.get(key)
        if entry is None:
            return None
        age = self.clock() - entry[0]
        if age >= self.max_age:
            del self._passed[key]
            return None
        return Passed(entry[1], age >= self.ttl)

    def remember(self, key: bytes, username: str) -> None:
        self._passed[key] = (self.clock(), username)
        self._passed.move_to_end(key)
        while len(self._passed) > self.max_entries:
            self._passed.popitem(last=False)

    def forget(self, key: bytes) -> None:
        self._passed.pop(key, None)
