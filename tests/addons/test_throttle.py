"""Tests for addons.throttle: guessing slowed per username and address, nobody locked out."""

from __future__ import annotations

from addons.throttle import FailureThrottle

ATTACKER, DESK = "10.0.0.66", "10.0.0.5"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def failed(throttle: FailureThrottle, times: int, username: str = "alice") -> None:
    for _ in range(times):
        throttle.failed(username, ATTACKER)


def test_four_failures_are_still_checked_the_fifth_blocks_that_address() -> None:
    throttle = FailureThrottle(clock=Clock())
    failed(throttle, 4)
    assert not throttle.blocked("alice", ATTACKER)
    failed(throttle, 1)
    assert throttle.blocked("alice", ATTACKER)


def test_the_real_person_at_another_address_is_not_locked_out() -> None:
    throttle = FailureThrottle(clock=Clock())
    failed(throttle, 50)
    assert throttle.blocked("alice", ATTACKER)
    assert not throttle.blocked("alice", DESK)
    assert not throttle.blocked("bob", ATTACKER)  # another username from there: checked


def test_usernames_are_one_person_whatever_their_case() -> None:
    throttle = FailureThrottle(clock=Clock())
    for name in ("alice", "Alice", "ALICE", "aLice", "alicE"):
        throttle.failed(name, ATTACKER)
    assert throttle.blocked("Alice", ATTACKER)


def test_the_block_ends_when_the_oldest_failure_leaves_the_window() -> None:
    clock = Clock()
    throttle = FailureThrottle(limit=5, window=60.0, clock=clock)
    failed(throttle, 1)
    clock.now += 30
    failed(throttle, 4)
    assert throttle.blocked("alice", ATTACKER)
    clock.now += 29.9
    assert throttle.blocked("alice", ATTACKER)
    clock.now += 0.1  # the first failure is a minute old: four left in the window
    assert not throttle.blocked("alice", ATTACKER)
    failed(throttle, 1)  # a few per minute: one more attempt, then blocked again
    assert throttle.blocked("alice", ATTACKER)


def test_a_success_forgets_that_addresses_failures() -> None:
    throttle = FailureThrottle(clock=Clock())
    failed(throttle, 4)
    throttle.succeeded("Alice", ATTACKER)
    failed(throttle, 4)
    assert not throttle.blocked("alice", ATTACKER)


def test_memory_is_bounded() -> None:
    throttle = FailureThrottle(max_entries=100, clock=Clock())
    for n in range(1000):
        throttle.failed(f"user{n}", ATTACKER)
    assert len(throttle) == 100
