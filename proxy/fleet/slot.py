"""One worker position of `leeway run --workers N`: its process, pipes and restart delay."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

RESTART_FIRST = 1.0  # seconds before replacing a dead worker; doubles up to RESTART_MAX
RESTART_MAX = 30.0
STEADY = 60.0  # a worker that ran this long resets the restart delay


def worker_journal(journal: Path, index: int) -> Path:
    """Each worker keeps its own audit journal: leeway-audit.journal -> leeway-audit.1.journal."""
    return journal.with_name(f"{journal.stem}.{index}{journal.suffix}")


@dataclass
class Slot:
    """One worker position: the process in it now, and what it last reported."""

    index: int
    process: BaseProcess | None = None
    events: Connection | None = None
    metrics: Connection | None = None
    ready: bool = False
    started: float = 0.0
    exposition: bytes | None = None
    delay: float = RESTART_FIRST
    restart_at: float | None = None

    def connections(self) -> list[Connection]:
        return [c for c in (self.events, self.metrics) if c is not None]

    def close(self, connection: Connection) -> None:
        connection.close()
        if connection is self.events:
            self.events = None
        elif connection is self.metrics:
            self.metrics = None


def send_signal(process: BaseProcess, number: int) -> None:
    if process.pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, number)
