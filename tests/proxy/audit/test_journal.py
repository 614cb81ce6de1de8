"""Access events as JSON lines, and the journal that keeps them on disk until they are stored."""

from __future__ import annotations

import json
import re
import stat
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING

import pytest

from proxy.audit.journal import Journal
from proxy.store.access_event import AccessEvent
from tests.audit_events import access_event

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def event(n: int = 0, username: str | None = "alice") -> AccessEvent:
    return access_event(NOW + timedelta(seconds=n), username=username, department=None, rule=None)


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_each_event_gets_its_own_id() -> None:
    assert event().event_id != event().event_id
    assert len(event().event_id) == 36


def test_event_ids_are_time_ordered_uuids_in_their_usual_form() -> None:
    before = time.time_ns() // 1_000_000
    for _ in range(200):  # the variant digit takes one of four values
        text = event().event_id
        parsed = uuid.UUID(text)
        assert (str(parsed), parsed.version, parsed.variant) == (text, 7, uuid.RFC_4122)
        assert before <= parsed.int >> 80 <= time.time_ns() // 1_000_000


@pytest.mark.parametrize("username", ["alice", None, "zoë"])
def test_json_round_trip(username: str | None) -> None:
    original = replace(
        event(username=username), occurred_at=NOW.astimezone(timezone(timedelta(hours=2)))
    )
    line = original.to_json()
    assert "\n" not in line
    assert AccessEvent.from_json(line) == original


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"kind": "visit"}, "kind 'visit'", id="kind"),
        pytest.param({"host": None}, "host None (expected a string)", id="host"),
        pytest.param({"rule": 3}, "rule 3 (expected a string or null)", id="rule"),
        pytest.param({"occurred_at": "2026-06-15T12:00:00"}, "has no time zone", id="naive"),
        pytest.param({"occurred_at": "yesterday"}, "yesterday", id="time"),
        pytest.param({"requests": 0}, "requests 0 (expected a whole number", id="no requests"),
        pytest.param({"requests": "2"}, "requests '2'", id="requests as text"),
    ],
)
def test_from_json_refuses_a_bad_line(change: dict[str, object], message: str) -> None:
    record = json.loads(event().to_json()) | change
    with pytest.raises(ValueError, match=re.escape(message)):
        AccessEvent.from_json(json.dumps(record))


def test_a_line_journaled_before_events_were_counted_stands_for_one_request() -> None:
    record = json.loads(replace(event(), requests=7).to_json())
    assert AccessEvent.from_json(json.dumps(record)).requests == 7
    del record["requests"]
    assert AccessEvent.from_json(json.dumps(record)).requests == 1


@pytest.mark.parametrize("line", ["[1, 2]", '{"kind": "decision"', ""])
def test_from_json_refuses_what_is_not_an_event(line: str) -> None:
    with pytest.raises(ValueError, match=r".+"):
        AccessEvent.from_json(line)


def replayed(journal: Journal, segment: Path, batch_size: int = 2) -> list[list[AccessEvent]]:
    batches: list[list[AccessEvent]] = []

    def write(batch: Sequence[AccessEvent]) -> tuple[int, int]:
        batches.append(list(batch))
        return len(batch), 0

    assert journal.replay(segment, write, batch_size) == (sum(map(len, batches)), 0)
    return batches


def test_append_rotate_replay_discard(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "audit.journal")
    assert journal.count() == 0
    assert journal.rotate() is None
    events = [event(n) for n in range(5)]
    journal.append(events[:3])
    journal.append(events[3:])
    assert journal.count() == 5
    segment = journal.rotate()
    assert segment == tmp_path / "audit.journal.replay"
    assert not journal.path.exists()
    later = event(9)
    journal.append([later])  # appends go on while the segment is replayed
    assert journal.count() == 6
    assert journal.rotate() == segment  # the segment first, until it is discarded
    assert replayed(journal, segment) == [events[0:2], events[2:4], events[4:5]]
    assert not segment.exists()
    assert replayed(journal, journal.rotate() or segment) == [[later]]
    assert journal.count() == 0


def test_a_failing_write_keeps_the_segment(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "audit.journal")
    journal.append([event()])
    segment = journal.rotate()
    assert segment is not None

    def down(batch: Sequence[AccessEvent]) -> tuple[int, int]:
        raise ConnectionError("store down")

    with pytest.raises(ConnectionError):
        journal.replay(segment, down, 10)
    assert journal.count() == 1


def test_a_torn_last_line_is_skipped_and_the_next_append_starts_afresh(tmp_path: Path) -> None:
    path = tmp_path / "audit.journal"
    first, torn, after = event(0), event(1), event(2)
    path.write_text(first.to_json() + "\n" + torn.to_json()[:40], encoding="utf-8")
    journal = Journal(path)  # a new process after a SIGKILL in the middle of an append
    journal.append([after])
    assert lines(path)[-1] == after.to_json()
    segment = journal.rotate()
    assert segment is not None
    assert replayed(journal, segment, batch_size=10) == [[first, after]]


def test_open_creates_a_private_directory_and_file(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "var" / "leeway" / "audit.journal")
    assert journal.open() == 0
    journal.append([event()])
    journal.close()
    assert len(lines(journal.path)) == 1
    assert stat.S_IMODE(journal.path.stat().st_mode) == 0o600  # usernames: personal data
    assert stat.S_IMODE(journal.path.parent.stat().st_mode) == 0o700


def test_open_counts_what_waits_and_locks_out_another_writer(tmp_path: Path) -> None:
    first, second = Journal(tmp_path / "audit.journal"), Journal(tmp_path / "audit.journal")
    assert first.open() == 0
    first.append([event(0), event(1)])
    with pytest.raises(OSError, match="is in use by another process"):
        second.open()
    first.close()
    assert second.open() == 2
    second.close()
