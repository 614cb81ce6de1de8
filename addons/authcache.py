"""Remember successful proxy-authentication checks for a short while.

mitmproxy checks the credentials of every plain-HTTP request on the event loop, and a
bcrypt check costs milliseconds to a third of a second. Only a keyed hash of the
credentials is kept, never the password.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable

from mitmproxy.addons.proxyauth import Validator


class CachedValidator(Validator):
    def __init__(
        self,
        inner: Validator,
        *,
        ttl: float = 60.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._salt = secrets.token_bytes(16)
        self._passed: OrderedDict[bytes, float] = OrderedDict()

    def __call__(self, username: str, password: str) -> bool:
        key = self._key(username, password)
        now = self.clock()
        expires = self._passed.get(key)
        if expires is not None and now < expires:
            return True
        if not self.inner(username, password):
            self._passed.pop(key, None)
            return False
        self._passed[key] = now + self.ttl
        self._passed.move_to_end(key)
        while len(self._passed) > self.max_entries:
            self._passed.popitem(last=False)
        return True

    def _key(self, username: str, password: str) -> bytes:
        message = username.encode() + b"\0" + password.encode()
        return hmac.new(self._salt, message, hashlib.sha256).digest()
