"""Worker: blocking jobs in one daemon thread, in order, results back on the loop."""

from __future__ import annotations

import asyncio
import threading

import pytest

from proxy.audit.writer_thread import Worker


def test_jobs_run_in_order_in_one_daemon_thread() -> None:
    seen: list[tuple[int, str]] = []

    def job(n: int) -> int:
        seen.append((n, threading.current_thread().name))
        assert threading.current_thread().daemon
        return n * 2

    async def scenario() -> list[int]:
        worker = Worker("test-worker")
        worker.start()
        try:
            return list(await asyncio.gather(*(worker.run(job, n) for n in range(5))))
        finally:
            worker.stop()

    assert asyncio.run(scenario()) == [0, 2, 4, 6, 8]
    assert seen == [(n, "test-worker") for n in range(5)]


def test_an_exception_reaches_the_awaiting_coroutine() -> None:
    def fail() -> None:
        raise OSError("disk full")

    async def scenario() -> None:
        worker = Worker("test-worker")
        worker.start()
        try:
            with pytest.raises(OSError, match="disk full"):
                await worker.run(fail)
            assert await worker.run(len, "still serving") == 13
        finally:
            worker.stop()

    asyncio.run(scenario())


def test_run_before_start_is_a_bug() -> None:
    async def scenario() -> None:
        with pytest.raises(RuntimeError, match="worker idle is not running"):
            Worker("idle").run(len, "x")

    asyncio.run(scenario())
