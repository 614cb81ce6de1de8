"""Background work of a running proxy: policy reloads, address-map refreshes, and writing
the Continue clicks that waited for the store.

All run off the event loop (file and database work in worker threads) and never stop
the proxy: a bad policy file is refused and logged, and the previous policy stays.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import Engine

from addons.context import Leeway
from addons.tasks import start_task
from policy import Policy, PolicyError, load_policy
from proxy.runtime.acknowledgements import AcknowledgementWriter
from proxy.runtime.address_book import AddressBook
from proxy.runtime.startup import portal_clash
from proxy.store.db import StoreUnavailable

logger = logging.getLogger("leeway.background")


class PolicyReloader:
    """Reload the policy on SIGHUP or when its file changes."""

    def __init__(
        self,
        leeway: Leeway,
        path: Path | None,
        interval: float = 2.0,
        on_change: Callable[[Policy], None] | None = None,
    ) -> None:
        self.leeway = leeway
        self.on_change = on_change
        self.path = path
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self._seen = self._stamp()

    def running(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        if self.path is not None:
            self._task = start_task(self._watch(), name="leeway-policy-watch")

    def done(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def _on_sighup(self) -> None:
        start_task(self.reload("SIGHUP"), name="leeway-policy-reload")

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            stamp = self._stamp()
            if stamp != self._seen:
                self._seen = stamp
                await self.reload("the file changed")

    def _stamp(self) -> tuple[int, int] | None:
        try:
            info = self.path.stat() if self.path is not None else None
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size) if info is not None else None

    async def reload(self, why: str) -> None:
        if self.path is None:
            logger.info("policy reload (%s): using the bundled policy, nothing to reload", why)
            return
        try:
            policy = await asyncio.to_thread(load_policy, self.path)
        except PolicyError as e:
            self._refused(why, e)
            return
        if (clash := portal_clash(policy, self.leeway.portal_host)) is not None:
            self._refused(why, clash)
            return
        old = self.leeway.policy.revision
        self.leeway.policy = policy
        if self.on_change is not None:
            self.on_change(policy)
        logger.info("policy reloaded (%s): revision %s -> %s", why, old, policy.revision)

    def _refused(self, why: str, reason: object) -> None:
        revision = self.leeway.policy.revision
        logger.error("policy reload (%s) refused, keeping revision %s:\n%s", why, revision, reason)


class AddressRefresher:
    """Re-read the client address map every `interval` seconds."""

    def __init__(self, book: AddressBook, engine: Engine, interval: float = 30.0) -> None:
        self.book = book
        self.engine = engine
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def running(self) -> None:
        self._task = start_task(self._refresh(), name="leeway-address-refresh")

    def done(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await asyncio.to_thread(self.book.load, self.engine)
            except StoreUnavailable as e:
                logger.warning("client address map not refreshed: %s", e)


class AcknowledgementFlusher:
    """Every `interval` seconds, write the acknowledgements that wait for the store.

    A Continue clicked while the store is down is honoured at once and queued; without
    this, the queue would be written only when somebody clicks again.
    """

    def __init__(self, writer: AcknowledgementWriter, interval: float = 2.0) -> None:
        self.writer = writer
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def running(self) -> None:
        self._task = start_task(self._flush(), name="leeway-acknowledgement-flush")

    def done(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self.writer.pending:
            logger.warning(
                "%d acknowledgements were not stored: the store was unavailable",
                self.writer.pending,
            )

    async def _flush(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if self.writer.pending:
                await self.writer.flush()  # never raises; logs while the store is down
