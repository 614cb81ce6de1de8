"""Background tasks that are kept until they end and whose failure is logged.

The event loop holds tasks only weakly, so a task nobody keeps may be collected mid-run, and
an exception in a task nobody awaits surfaces late or never. Leeway starts every task here
(ruff bans the raw `asyncio.create_task`); addons and proxy/ alike can import it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

logger = logging.getLogger("leeway.tasks")

# The strong references the event loop does not keep; each task leaves when it ends.
_RUNNING: set[asyncio.Task[Any]] = set()


def start_task[T](coro: Coroutine[Any, Any, T], *, name: str) -> asyncio.Task[T]:
    """Run `coro` as a task named `name` on the running loop, kept until it ends.

    A failure is logged on `leeway.tasks` with its traceback; a cancel is not a failure.
    The caller may still await or cancel the task it gets back.
    """
    task = asyncio.create_task(coro, name=name)  # noqa: TID251 - the one place allowed
    _RUNNING.add(task)
    task.add_done_callback(_finished)
    return task


def running() -> frozenset[asyncio.Task[Any]]:
    """The tasks started here that have not ended yet."""
    return frozenset(_RUNNING)


def _finished(task: asyncio.Task[Any]) -> None:
    _RUNNING.discard(task)
    if task.cancelled():
        return
    error = task.exception()  # retrieved: asyncio does not also report it as never retrieved
    if error is not None:
        logger.error("task %s failed: %r", task.get_name(), error, exc_info=error)
