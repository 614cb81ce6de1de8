"""Tests for addons.signin_checks: real worker threads, real (short) time limits."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Coroutine
from typing import Any

import pytest

from addons.authcache import PassedLogins
from addons.signin_checks import Outcome, SignInChecks, SignInUnavailable, Verdict

PASSWORD = "right-password"
DESK, ATTACKER = "10.0.0.5", "10.0.0.66"


class Directory:
    """A blocking check: answers `PASSWORD` for every user once `open` is set; counts calls
    and the threads they ran on; raises SignInUnavailable while `down`."""

    def __init__(self, *, answering: bool = True) -> None:
        self.open = threading.Event()
        if answering:
            self.open.set()
        self.down = False
        self.calls: Counter[str] = Counter()
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, username: str, password: str) -> str | None:
        with self._lock:
            self.calls[username] += 1
            self.threads.add(threading.current_thread().name)
        self.open.wait(10)
        if self.down:
            raise SignInUnavailable("ldap://directory: connection refused")
        return username.lower() if password == PASSWORD else None


def run[T](coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def test_good_credentials_pass_with_the_checks_name_and_are_remembered() -> None:
    directory = Directory()
    outcomes: list[Outcome] = []
    checks = SignInChecks(directory, on_outcome=outcomes.append)

    async def scenario() -> tuple[Verdict, Verdict, str | None]:
        first = await checks.check("Alice", PASSWORD, DESK)
        again = await checks.check("Alice", PASSWORD, DESK)
        return first, again, checks.known("Alice", PASSWORD)

    first, again, known = run(scenario())
    assert first == again == Verdict(Outcome.OK, "alice")
    assert known == "alice"
    assert directory.calls["Alice"] == 1
    assert outcomes == [Outcome.OK]  # a remembered login is no check
    assert all(name.startswith("signin") for name in directory.threads)


def test_a_wrong_password_is_refused_and_never_remembered() -> None:
    directory = Directory()
    checks = SignInChecks(directory)

    async def scenario() -> list[Verdict]:
        return [await checks.check("alice", "guess", DESK) for _ in range(2)]

    assert run(scenario()) == [Verdict(Outcome.WRONG)] * 2
    assert directory.calls["alice"] == 2
    assert checks.known("alice", "guess") is None


def test_empty_credentials_are_refused_without_a_check() -> None:
    directory = Directory()
    checks = SignInChecks(directory)
    assert run(checks.check("", PASSWORD, DESK)).outcome is Outcome.WRONG
    assert run(checks.check("alice", "", DESK)).outcome is Outcome.WRONG
    assert directory.calls == Counter()


def test_concurrent_requests_with_the_same_credentials_share_one_check() -> None:
    directory = Directory(answering=False)
    checks = SignInChecks(directory, timeout=5.0)

    async def scenario() -> list[Verdict]:
        waiting = [asyncio.ensure_future(checks.check("alice", PASSWORD, DESK)) for _ in range(20)]
        await asyncio.sleep(0.1)
        assert checks.pending == 1
        directory.open.set()
        return await asyncio.gather(*waiting)

    assert run(scenario()) == [Verdict(Outcome.OK, "alice")] * 20
    assert directory.calls["alice"] == 1


def test_a_pending_check_does_not_hold_up_the_event_loop_or_other_users() -> None:
    directory = Directory(answering=False)
    checks = SignInChecks(directory, timeout=5.0)
    checks.passed.remember(checks.passed.key("bob", PASSWORD), "bob")

    async def scenario() -> float:
        stuck = asyncio.ensure_future(checks.check("alice", PASSWORD, DESK))
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        for _ in range(100):  # bob, already signed in, and the loop itself
            assert (await checks.check("bob", PASSWORD, DESK)).outcome is Outcome.OK
            await asyncio.sleep(0)
        took = time.perf_counter() - started
        directory.open.set()
        await stuck
        return took

    assert run(scenario()) < 0.05


def test_no_answer_within_the_time_limit_is_a_refusal_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    directory = Directory(answering=False)
    outcomes: list[Outcome] = []
    checks = SignInChecks(directory, timeout=0.3, on_outcome=outcomes.append)

    async def scenario() -> tuple[list[Verdict], float]:
        started = time.perf_counter()
        verdicts = await asyncio.gather(
            *(checks.check(user, PASSWORD, DESK) for user in ("ann", "bea", "ann", "cal"))
        )
        return list(verdicts), time.perf_counter() - started

    with caplog.at_level(logging.WARNING, logger="leeway.signin"):
        verdicts, took = run(scenario())
        verdicts += [run(checks.check("dan", PASSWORD, DESK))]
    directory.open.set()
    assert verdicts == [Verdict(Outcome.TIMEOUT)] * 5
    assert 0.3 <= took < 1.0
    assert outcomes == [Outcome.TIMEOUT] * 5
    failing = [r for r in caplog.records if "failing" in r.getMessage()]
    assert len(failing) == 1
    assert "no answer within 0.3 s" in failing[0].getMessage()
    assert PASSWORD not in caplog.text


def test_a_directory_that_answers_again_is_used_again_and_that_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    directory = Directory()
    directory.down = True
    checks = SignInChecks(directory, timeout=2.0)

    async def scenario() -> list[Verdict]:
        verdicts = [await checks.check("alice", PASSWORD, DESK) for _ in range(3)]
        directory.down = False
        verdicts.append(await checks.check("alice", PASSWORD, DESK))
        return verdicts

    with caplog.at_level(logging.WARNING, logger="leeway.signin"):
        verdicts = run(scenario())
    assert verdicts == [Verdict(Outcome.ERROR)] * 3 + [Verdict(Outcome.OK, "alice")]
    messages = [r.getMessage() for r in caplog.records]
    assert sum("failing" in m for m in messages) == 1
    assert "connection refused" in messages[0]
    assert messages[-1] == "sign-in checks answer again"


def test_an_answer_after_the_time_limit_still_lets_the_next_request_in() -> None:
    directory = Directory(answering=False)
    checks = SignInChecks(directory, timeout=0.2)

    async def scenario() -> tuple[Verdict, Verdict]:
        late = await checks.check("alice", PASSWORD, DESK)
        directory.open.set()
        for _ in range(100):
            if checks.pending == 0:
                break
            await asyncio.sleep(0.02)
        return late, await checks.check("alice", PASSWORD, DESK)

    late, next_one = run(scenario())
    assert late.outcome is Outcome.TIMEOUT
    assert next_one == Verdict(Outcome.OK, "alice")
    assert directory.calls["alice"] == 1


def test_a_check_that_raises_a_bug_fails_closed(caplog: pytest.LogCaptureFixture) -> None:
    def broken(username: str, password: str) -> str | None:
        raise KeyError(username)

    checks = SignInChecks(broken)
    with caplog.at_level(logging.ERROR, logger="leeway.signin"):
        assert run(checks.check("alice", PASSWORD, DESK)) == Verdict(Outcome.ERROR)
    assert "a sign-in check failed" in caplog.text


def test_repeated_failures_throttle_the_failing_address_only() -> None:
    directory = Directory()
    outcomes: list[Outcome] = []
    checks = SignInChecks(directory, on_outcome=outcomes.append)

    async def scenario() -> tuple[list[Outcome], Verdict, Verdict]:
        tries = [(await checks.check("alice", f"guess{n}", ATTACKER)).outcome for n in range(7)]
        from_desk = await checks.check("Alice", PASSWORD, DESK)
        right_from_attacker = await checks.check("alice", PASSWORD + "x", ATTACKER)
        return tries, from_desk, right_from_attacker

    tries, from_desk, from_attacker = run(scenario())
    assert tries == [Outcome.WRONG] * 5 + [Outcome.THROTTLED] * 2
    assert directory.calls["alice"] == 5  # throttled attempts were never checked
    assert from_desk == Verdict(Outcome.OK, "alice")
    assert from_attacker.outcome is Outcome.THROTTLED
    assert Counter(outcomes) == {Outcome.WRONG: 5, Outcome.THROTTLED: 3, Outcome.OK: 1}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_stale_login_is_answered_at_once_and_checked_again_in_the_background() -> None:
    directory, clock = Directory(), Clock()
    outcomes: list[Outcome] = []
    passed = PassedLogins(ttl=60.0, max_age=600.0, clock=clock)
    checks = SignInChecks(directory, passed=passed, on_outcome=outcomes.append)

    async def settled() -> None:
        for _ in range(200):
            if checks.pending == 0:
                return
            await asyncio.sleep(0.01)

    async def scenario() -> list[str | None]:
        assert (await checks.check("alice", PASSWORD, DESK)).outcome is Outcome.OK
        clock.now += 61
        directory.open.clear()  # the re-check will hang until let go
        stale = [checks.known("alice", PASSWORD) for _ in range(5)]  # one re-check for all
        assert checks.pending == 1
        directory.open.set()
        await settled()
        stale.append(checks.known("alice", PASSWORD))  # fresh again: no third check
        return stale

    assert run(scenario()) == ["alice"] * 6
    assert directory.calls["alice"] == 2
    assert outcomes == [Outcome.OK, Outcome.OK]  # the first check and the re-check


def test_a_stale_login_whose_password_no_longer_passes_is_refused_next_time() -> None:
    clock = Clock()
    accepted = {"alice": PASSWORD}

    def check(username: str, password: str) -> str | None:
        return username if accepted.get(username) == password else None

    checks = SignInChecks(check, passed=PassedLogins(ttl=60.0, clock=clock))

    async def scenario() -> tuple[str | None, str | None, Verdict]:
        assert (await checks.check("alice", PASSWORD, DESK)).outcome is Outcome.OK
        accepted["alice"] = "new-password"
        clock.now += 61
        during = checks.known("alice", PASSWORD)  # answered, and checked again
        for _ in range(200):
            if checks.pending == 0:
                break
            await asyncio.sleep(0.01)
        return during, checks.known("alice", PASSWORD), await checks.check("alice", PASSWORD, DESK)

    during, after, verdict = run(scenario())
    assert during == "alice"
    assert after is None
    assert verdict == Verdict(Outcome.WRONG)
