"""A daemon thread that runs blocking jobs, one at a time, for the asyncio event loop.

The audit trail's own threads: its journal fsyncs and database writes neither wait behind
nor crowd out the default pool's entitlement loads, and a write hanging on a lost network
does not keep the process from exiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

type _Job = tuple[asyncio.AbstractEventLoop, asyncio.Future[Any], Callable[[], Any]]


class Worker:
    """Runs `run(fn, *args)` calls in order in one daemon thread; results come back as futures."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name=self.name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Let the thread end after the jobs already given; does not wait for it."""
        if self._thread is not None:
            self._jobs.put(None)
            self._thread = None

    def run[**P, T](
        self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> asyncio.Future[T]:
        """Queue `fn(*args, **kwargs)`; its result or exception, on the calling loop."""
        if self._thread is None:
            raise RuntimeError(f"worker {self.name} is not running: call start() first")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, functools.partial(fn, *args, **kwargs)))
        return future

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            loop, future, call = job
            try:
                outcome: tuple[Callable[[Any], None], Any] = (future.set_result, call())
            # Whatever the job raised belongs to the coroutine awaiting it (as with an
            # executor's future); letting it escape would end the thread and strand the queue.
            except Exception as e:  # noqa: BLE001
                outcome = (future.set_exception, e)
            with contextlib.suppress(RuntimeError):  # the loop closed while we worked
                loop.call_soon_threadsafe(_settle, future, *outcome)


def _settle(future: asyncio.Future[Any], setter: Callable[[Any], None], value: Any) -> None:
    if not future.cancelled():
        setter(value)
