"""The waiting helper: returns what it waited for, or fails naming it and the last value."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from tests.waiting import eventually, eventually_async


def test_it_returns_the_first_value_that_satisfies() -> None:
    counter = itertools.count()
    assert eventually(lambda: next(counter), "the third call", until=lambda n: n >= 2) == 2


def test_a_time_out_names_what_was_awaited_and_the_last_value() -> None:
    with pytest.raises(AssertionError, match=r"not within 0\.05 s: the answer \(last seen: 41\)"):
        eventually(lambda: 41, "the answer", until=lambda n: n == 42, within=0.05)


def test_the_async_one_lets_the_loop_run_meanwhile() -> None:
    async def scenario() -> None:
        done = asyncio.Event()
        asyncio.get_running_loop().call_later(0.05, done.set)
        assert await eventually_async(done.is_set, "the timer fired") is True
        with pytest.raises(AssertionError, match=r"not within 0\.05 s: never"):
            await eventually_async(lambda: False, "never", within=0.05)

    asyncio.run(scenario())
