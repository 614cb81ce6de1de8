"""mitmproxy's `taddons.context` for Leeway's addon tests, without its leak.

Each `mitmproxy.master.Master` puts a handler on the root logger that hands every log line
to that master's event loop, and only `Master.done()` takes it off again; `taddons.context`
never calls it. A test that cycles two flows, each in its own `asyncio.run`, would then log
the second flow's lines into the first loop, closed by then ("Event loop is closed"), as
soon as anything has set the root logger to INFO. This context takes the handler off when
it ends.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mitmproxy import log
from mitmproxy.test import taddons


@contextmanager
def addon_context(*addons: Any, **kwargs: Any) -> Iterator[taddons.context]:
    """`taddons.context(*addons, **kwargs)` whose master leaves no log handler behind."""
    root = logging.getLogger()
    before = set(root.handlers)
    with taddons.context(*addons, **kwargs) as tctx:
        try:
            yield tctx
        finally:
            for handler in set(root.handlers) - before:
                if isinstance(handler, log.LegacyLogEvents) and handler.master is tctx.master:
                    root.removeHandler(handler)
