"""The audit trail's side on local disk: the journal, used from a thread of its own.

Counts the events waiting in the journal for the store; a replay takes them out again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from proxy.audit.journal import Journal
from proxy.audit.writer_thread import Worker

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from proxy.store.access_event import AccessEvent

log = logging.getLogger("leeway.audit")  # the trail's messages, wherever they are made


class Spool:
    """A `Journal` with its thread; `waiting` counts the events in it (lines, as counted)."""

    def __init__(self, path: Path, drop: Callable[[int, str], None]) -> None:
        self.journal = Journal(path)
        self.waiting = 0
        self.writing = 0  # handed to `append`, not journaled yet
        self._worker = Worker("leeway-audit-journal")
        self._drop = drop

    async def open(self) -> None:
        """Lock the journal and count what it holds (`OSError` if unusable); start the thread."""
        self.waiting = await asyncio.to_thread(self.journal.open)
        if self.waiting:
            log.info("audit journal %s: %d events to replay", self.journal.path, self.waiting)
        self._worker.start()

    async def close(self) -> None:
        """Let another process use the journal."""
        await self._worker.run(self.journal.close)

    def stop(self) -> None:
        """Let the thread end after the work already given."""
        self._worker.stop()

    async def append(self, events: Sequence[AccessEvent]) -> None:
        """Journal `events` (fsynced before it returns); `OSError` when the disk fails.

        Until then they count in `writing`: events neither in memory nor in the journal.
        """
        if events:
            self.writing += len(events)
            try:
                await self._worker.run(self.journal.append, events)
            finally:
                self.writing -= len(events)
            self.waiting += len(events)

    async def overflow(self, events: Sequence[AccessEvent]) -> None:
        """Journal what the memory queue had no room for; the disk failing, they are lost."""
        try:
            await self.append(events)
        except OSError as e:
            self._drop(len(events), f"the journal cannot be written: {e}")

    async def rotate(self) -> Path | None:
        """The segment to replay next; None when the journal is empty. `OSError` on failure."""
        segment = await self._worker.run(self.journal.rotate)
        if segment is None:
            self.waiting = 0
        return segment

    def replayed(self, events: int) -> None:
        """Count `events` of a replayed segment as out of the journal."""
        self.waiting = max(0, self.waiting - events)
