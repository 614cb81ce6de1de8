"""Sign-in checks off the event loop: one check per credential at a time, within a time limit.

A check (a bcrypt hash, a directory bind) runs in a worker thread; requests that carry the
same credentials meanwhile wait for the same check. A check that has not answered within
`timeout` seconds is a refusal (fail closed) while it goes on in its thread, and a
directory that stops answering is logged once, not once per request, until it answers
again. Successful checks are remembered (`PassedLogins`), failures counted
(`FailureThrottle`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum

from addons.authcache import PassedLogins
from addons.throttle import FailureThrottle

logger = logging.getLogger("leeway.signin")

DEFAULT_TIMEOUT = 5.0
# Threads for checks: a stalled directory holds one per distinct credential until its own
# time limit; more checks than this wait their turn (and are refused at `timeout`).
WORKERS = 8


class Outcome(StrEnum):
    """What one sign-in attempt came to (the label of the sign-in metric)."""

    OK = "ok"
    WRONG = "wrong"  # a wrong password or an unknown user
    TIMEOUT = "timeout"  # no answer within the time limit
    ERROR = "error"  # the check could not be made (directory down, refused, a bug)
    THROTTLED = "throttled"  # refused unchecked: too many failures from this address


class SignInUnavailable(Exception):
    """A check could not be made: the directory refused the connection, the service
    account, or answered with an error. The message names the server, never a password."""


# Blocking: the canonical username for good credentials, None for wrong ones; raises
# SignInUnavailable when it cannot tell.
type Check = Callable[[str, str], str | None]


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    username: str | None = None  # the canonical username, when the outcome is OK


def _uncounted(outcome: Outcome) -> None:
    return None


class SignInChecks:
    """Answers "who are these credentials?" for the event loop, never blocking it."""

    def __init__(
        self,
        check: Check,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        passed: PassedLogins | None = None,
        throttle: FailureThrottle | None = None,
        workers: int = WORKERS,
        on_outcome: Callable[[Outcome], None] = _uncounted,
    ) -> None:
        self._check = check
        self.timeout = timeout
        self.passed = PassedLogins() if passed is None else passed
        self.throttle = FailureThrottle() if throttle is None else throttle
        self._on_outcome = on_outcome
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="signin")
        self._pending: dict[bytes, asyncio.Future[str | None]] = {}
        self._failing = False

    @property
    def pending(self) -> int:
        """Checks running or waiting for a thread."""
        return len(self._pending)

    def known(self, username: str, password: str) -> str | None:
        """The canonical username of credentials that passed a check lately, else None.
        Synchronous and cheap: the common request is answered here. A stale login is
        answered too, and checked again in the background (call it on the event loop)."""
        key = self.passed.key(username, password)
        passed = self.passed.get(key)
        if passed is None:
            return None
        if passed.stale and key not in self._pending:
            self._start(key, username, password).add_done_callback(self._count_recheck)
        return passed.username

    async def check(self, username: str, password: str, client: str) -> Verdict:
        """Check credentials sent from address `client`. Never raises."""
        name = self.known(username, password)
        if name is not None:
            return Verdict(Outcome.OK, name)
        key = self.passed.key(username, password)
        if not username or not password:
            return self._counted(Verdict(Outcome.WRONG))
        if self.throttle.blocked(username, client):
            return self._counted(Verdict(Outcome.THROTTLED))
        verdict = await self._checked(key, username, password)
        if verdict.outcome is Outcome.WRONG:
            self.throttle.failed(username, client)
        elif verdict.outcome is Outcome.OK:
            self.throttle.succeeded(username, client)
        return self._counted(verdict)

    def close(self) -> None:
        """Stop taking checks; those running end in their threads (within their limit)."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _checked(self, key: bytes, username: str, password: str) -> Verdict:
        future = self._pending.get(key)
        if future is None:
            future = self._start(key, username, password)
        try:
            # shield: one waiter giving up must not cancel the check the others wait for
            name = await asyncio.wait_for(asyncio.shield(future), self.timeout)
        except TimeoutError:
            self._outage(f"no answer within {self.timeout:g} s")
            return Verdict(Outcome.TIMEOUT)
        except SignInUnavailable as e:
            self._outage(str(e))
            return Verdict(Outcome.ERROR)
        # The one guard of the boundary: a check that raises something else is a bug, and
        # the sign-in must still fail closed rather than raise out of a proxy hook.
        except Exception:
            logger.exception("a sign-in check failed: refused")
            return Verdict(Outcome.ERROR)
        self._answered()
        return Verdict(Outcome.OK, name) if name is not None else Verdict(Outcome.WRONG)

    def _start(self, key: bytes, username: str, password: str) -> asyncio.Future[str | None]:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, self._check, username, password)
        self._pending[key] = future
        future.add_done_callback(functools.partial(self._finished, key))
        return future

    def _finished(self, key: bytes, future: asyncio.Future[str | None]) -> None:
        if self._pending.get(key) is future:
            del self._pending[key]
        # Also when every waiter gave up: a late answer still lets the next request in. A
        # check that could not be made leaves a stale login as it was (the directory is
        # down: who was signed in stays signed in, up to `max_age`).
        if not future.cancelled() and future.exception() is None:
            name = future.result()
            if name is None:
                self.passed.forget(key)
            else:
                self.passed.remember(key, name)

    def _count_recheck(self, future: asyncio.Future[str | None]) -> None:
        if future.cancelled():
            return
        if future.exception() is not None:
            self._on_outcome(Outcome.ERROR)
        else:
            self._on_outcome(Outcome.OK if future.result() is not None else Outcome.WRONG)

    def _counted(self, verdict: Verdict) -> Verdict:
        self._on_outcome(verdict.outcome)
        return verdict

    def _outage(self, reason: str) -> None:
        if not self._failing:
            self._failing = True
            logger.warning("sign-in checks failing (%s): refused until they answer", reason)

    def _answered(self) -> None:
        if self._failing:
            self._failing = False
            logger.warning("sign-in checks answer again")
