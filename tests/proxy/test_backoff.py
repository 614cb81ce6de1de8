"""Backoff: no try until the wait is over, waits that double up to a bound, reset by a success."""

from __future__ import annotations

import pytest

from proxy.backoff import Backoff


class Clock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_ready_until_a_failure_then_not_until_the_wait_is_over() -> None:
    clock = Clock()
    backoff = Backoff(5.0, clock=clock)
    assert backoff.ready() and not backoff.failing and backoff.wait() == 0

    assert backoff.failed() == 5.0
    clock.t += 4.9
    assert not backoff.ready()
    assert backoff.failing
    assert backoff.wait() == pytest.approx(0.1)

    clock.t += 0.1
    assert backoff.ready() and backoff.wait() == 0
    assert backoff.failing, "the outage lasts until a try works"


def test_a_fixed_wait_never_grows() -> None:
    backoff = Backoff(5.0, clock=Clock())
    assert [backoff.failed() for _ in range(4)] == [5.0, 5.0, 5.0, 5.0]


def test_waits_double_up_to_the_most() -> None:
    backoff = Backoff(0.1, 0.3, clock=Clock())
    assert [backoff.failed() for _ in range(4)] == [0.1, 0.2, 0.3, 0.3]


def test_a_success_ends_the_outage_and_the_next_starts_short_again() -> None:
    clock = Clock()
    backoff = Backoff(1.0, 30.0, clock=clock)
    backoff.failed()
    backoff.failed()

    backoff.succeeded()
    assert backoff.ready() and not backoff.failing
    assert backoff.failed() == 1.0


def test_retry_now_ends_the_wait_but_not_the_outage() -> None:
    """What the entitlement cache does when the database announces a change."""
    clock = Clock()
    backoff = Backoff(60.0, clock=clock)
    backoff.retry_now()
    assert not backoff.failing, "nothing to end before a failure"

    backoff.failed()
    clock.t += 1
    backoff.retry_now()
    assert backoff.ready()
    assert backoff.failing


@pytest.mark.parametrize(("first", "most"), [(-1.0, 1.0), (2.0, 1.0)])
def test_bounds_out_of_order_are_refused(first: float, most: float) -> None:
    with pytest.raises(ValueError, match=f"expected 0 <= first <= most, got {first} and {most}"):
        Backoff(first, most)
