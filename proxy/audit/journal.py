"""The append-only journal that keeps access events on local disk.

The journal holds events the database could not take yet; it is only touched off the loop.
"""

from __future__ import annotations

import fcntl
import logging
import os
from typing import TYPE_CHECKING

from proxy.store.access_event import AccessEvent

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from pathlib import Path

log = logging.getLogger("leeway.audit")


class Journal:
    """Events appended to `path` and fsynced; replayed through a `.replay` segment.

    `rotate` renames the file to the segment, so appends continue in a fresh file while
    the segment is written to the database; `discard` removes it once committed. A
    segment left by a crash is replayed first. `append` and `rotate` must not overlap
    (one thread); the replay of a rotated segment may run in another thread meanwhile.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.segment = path.with_name(path.name + ".replay")
        self._tail_checked = False
        self._lock: int | None = None

    def open(self) -> int:
        """Create the directory, lock the journal for this process; how many events wait.

        `OSError` if it cannot be used, or if another process holds it: two writers of one
        journal would replay each other's events and cut each other's lines.
        """
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock)
            raise OSError(f"audit journal {self.path} is in use by another process") from None
        self._lock = lock
        try:
            return self.count()
        except OSError:
            self.close()
            raise

    def close(self) -> None:
        """Let another process use the journal (the kernel does it too if this one dies)."""
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def append(self, events: Sequence[AccessEvent]) -> None:
        """Append `events`, one line each, and fsync; `OSError` if the disk refuses."""
        if not events:
            return
        text = "".join(event.to_json() + "\n" for event in events)
        created = not self.path.exists()
        if not created and not self._tail_checked and not _ends_with_newline(self.path):
            # A crash cut the last line short: start on a fresh one, or ours is lost too.
            text = "\n" + text
        # Personal data: readable by the proxy's user only.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with open(fd, "a", encoding="utf-8") as file:  # noqa: PTH123 - a descriptor, not a path
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        self._tail_checked = True
        if created:
            _fsync_directory(self.path.parent)

    def count(self) -> int:
        """How many lines wait in the segment and the file (a torn or bad line counts too)."""
        return sum(_count_lines(path) for path in (self.segment, self.path) if path.exists())

    def rotate(self) -> Path | None:
        """The segment to replay next (renaming the file to it if needed), or None: empty."""
        if self.segment.exists():
            return self.segment
        if not self.path.exists() or self.path.stat().st_size == 0:
            return None
        self.path.rename(self.segment)
        _fsync_directory(self.path.parent)
        self._tail_checked = False
        return self.segment

    def read(self, segment: Path, batch_size: int) -> Iterator[list[AccessEvent]]:
        """The segment's events in order, `batch_size` at a time; bad lines are logged, skipped."""
        batch: list[AccessEvent] = []
        with segment.open(encoding="utf-8", errors="replace") as file:
            for number, line in enumerate(file, start=1):
                if not line.strip():
                    continue
                try:
                    batch.append(AccessEvent.from_json(line))
                except ValueError as e:
                    log.error("audit journal %s, line %d skipped: %s", segment, number, e)
                    continue
                if len(batch) >= batch_size:
                    yield batch
                    batch = []
        if batch:
            yield batch

    def replay(
        self,
        segment: Path,
        write: Callable[[Sequence[AccessEvent]], tuple[int, int]],
        batch_size: int,
    ) -> tuple[int, int]:
        """Pass the segment to `write` a batch at a time, then discard it; summed counts.

        `write` returns (events written, events refused); an exception it raises (the
        store is down) stops the replay and keeps the segment for the next one.
        """
        written = refused = 0
        for batch in self.read(segment, batch_size):
            done, rejected = write(batch)
            written, refused = written + done, refused + rejected
        self.discard(segment)
        return written, refused

    def discard(self, segment: Path) -> None:
        """Remove a segment whose events are committed."""
        segment.unlink(missing_ok=True)
        _fsync_directory(segment.parent)


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as file:
        if file.seek(0, os.SEEK_END) == 0:
            return True
        file.seek(-1, os.SEEK_END)
        return file.read(1) == b"\n"


def _count_lines(path: Path) -> int:
    with path.open("rb") as file:
        return sum(1 for line in file if line.strip())


def _fsync_directory(directory: Path) -> None:
    """Make a file's creation, rename or removal survive a power cut, not only a crash."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
