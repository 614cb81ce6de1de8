"""`addon_context` takes its master's log handler off the root logger when it ends."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
from mitmproxy import log
from mitmproxy.test import taddons, tflow

from tests.addons.addon_context import addon_context

logger = logging.getLogger("leeway.test")


class Chatty:
    """An addon that logs an INFO line on every request, as Enforce does."""

    def request(self, flow: object) -> None:
        logger.info("a request")


def mitm_handlers() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if isinstance(h, log.LegacyLogEvents)]


def cycle_twice(context: Callable[[Chatty], AbstractContextManager[taddons.context]]) -> None:
    """Two flows, each in an `asyncio.run` of its own, as the addon tests cycle them."""

    async def one() -> None:
        addon = Chatty()
        with context(addon) as tctx:
            await tctx.cycle(addon, tflow.tflow())

    asyncio.run(one())
    asyncio.run(one())


def test_a_second_loop_logs_without_the_first_loops_handler(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    before = mitm_handlers()
    cycle_twice(addon_context)
    assert [r.getMessage() for r in caplog.records].count("a request") == 2
    assert mitm_handlers() == before


def test_taddons_context_alone_leaves_the_handler_that_breaks_the_second_loop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Why `addon_context` exists: if mitmproxy stops leaking the handler, this fails and
    the wrapper can go."""
    caplog.set_level(logging.INFO)
    before = mitm_handlers()
    try:
        with pytest.raises(RuntimeError, match="Event loop is closed"):
            cycle_twice(taddons.context)
    finally:
        for handler in set(mitm_handlers()) - set(before):
            logging.getLogger().removeHandler(handler)
