"""Real outages: PostgreSQL cut off and back during traffic, and a SIGKILL during an outage.

PostgreSQL is reached through a TCP forwarder that the test stops and starts again.
"""

from __future__ import annotations

import asyncio
import os
import select
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import make_url
from sqlalchemy import select as sql_select

from proxy.audit.trail import AccessEvent, AuditTrail, TrailLimits
from proxy.store.db import make_engine, session_factory
from proxy.store.models import AccessEvent as EventRow
from tests.audit_events import access_event
from tests.e2e.forwarder import Forwarder
from tests.waiting import eventually_async

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from sqlalchemy.engine import Engine

REPOSITORY = Path(__file__).resolve().parents[3]


# The trail's times for tests: seconds become hundredths.
FAST = TrailLimits(flush_interval=0.05, hang_after=1.0, retry_max=0.2)
# A proxy with an audit trail, the store down: it submits events until they are journaled.
CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from datetime import UTC, datetime
    from pathlib import Path

    from proxy.audit.trail import AccessEvent, AuditTrail, TrailLimits
    from proxy.store.db import make_engine

    async def main(url: str, journal: str, count: int) -> None:
        limits = TrailLimits(flush_interval=0.05, retry_max=0.2)
        trail = AuditTrail(make_engine(url), Path(journal), limits)
        await trail.start()
        for n in range(count):
            trail.submit(AccessEvent(
                occurred_at=datetime.now(UTC), kind="decision", username=f"user{n % 7}",
                department=None, host="x.com", category="social", access="read",
                action="warn", reason="rule_matched", rule="everyone", instance="child",
            ))
            if n % 50 == 0:
                await asyncio.sleep(0)
        while trail.depth() or trail.journaled() < count:
            await asyncio.sleep(0.01)
        print("journaled", flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    """
)


def stored(engine: Engine) -> Counter[str]:
    with session_factory(engine)() as session:
        return Counter(session.scalars(sql_select(EventRow.event_id)))


def journal_ids(path: Path) -> list[str]:
    return [AccessEvent.from_json(line).event_id for line in path.read_text().splitlines()]


WITHIN = 30.0  # seconds for an outage to be journaled or replayed, on a busy machine


def sample(n: int) -> AccessEvent:
    return access_event(
        datetime.now(UTC),
        username=f"user{n % 5}",
        department="Policy",
        host="www.linkedin.com",
        access="write" if n % 2 else "read",
        action="block",
        reason="no_matching_rule",
        rule=None,
    )


@pytest.fixture
def forwarder(db_url: str) -> Iterator[Forwarder]:
    url = make_url(db_url)
    forwarder = Forwarder((url.host or "127.0.0.1", url.port or 5432))
    yield forwarder
    forwarder.stop()


def forwarded(db_url: str, forwarder: Forwarder) -> str:
    url = make_url(db_url).set(host="127.0.0.1", port=forwarder.port)
    return url.render_as_string(hide_password=False)


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_postgres_stopped_and_started_during_traffic(
    db_url: str, engine: Engine, forwarder: Forwarder, tmp_path: Path
) -> None:
    forwarder.start()
    trail_engine = make_engine(forwarded(db_url, forwarder))
    drops: list[int] = []
    submitted: list[AccessEvent] = []

    async def traffic(trail: AuditTrail, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while loop.time() < end:
            submitted.append(sample(len(submitted)))
            trail.submit(submitted[-1])
            await asyncio.sleep(0.002)

    async def scenario() -> None:
        trail = AuditTrail(trail_engine, tmp_path / "audit.journal", FAST, on_dropped=drops.append)
        await trail.start()
        await traffic(trail, 0.5)
        forwarder.stop()  # the database is gone, mid-traffic
        await traffic(trail, 1.0)
        await eventually_async(lambda: trail.journaled() > 0, "events are journaled", within=WITHIN)
        forwarder.start()
        await traffic(trail, 0.5)
        await eventually_async(
            lambda: sum(stored(engine).values()) >= len(submitted), "all stored", within=WITHIN
        )
        await trail.stop()

    try:
        asyncio.run(scenario())
    finally:
        trail_engine.dispose()
    assert stored(engine) == Counter(e.event_id for e in submitted)
    assert drops == []
    assert {f.name for f in tmp_path.glob("audit.journal*")} == {"audit.journal.lock"}


@dataclass(frozen=True)
class Outage:
    down_url: str  # the store as the proxy sees it while it is down
    up_url: str  # and once it is back
    bring_back: Callable[[], None]


@pytest.fixture
def outage(db_url: str, forwarder: Forwarder, tmp_path: Path) -> Outage:
    """PostgreSQL behind a stopped forwarder; SQLite on a volume that is not there."""
    if make_url(db_url).get_backend_name() == "sqlite":
        return Outage(f"sqlite:///{tmp_path / 'unmounted' / 'leeway.db'}", db_url, lambda: None)
    url = forwarded(db_url, forwarder)
    return Outage(url, url, forwarder.start)


def start_child(outage: Outage, journal: Path, count: int) -> subprocess.Popen[str]:
    script = journal.parent / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    return subprocess.Popen(
        [sys.executable, str(script), outage.down_url, str(journal), str(count)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPOSITORY,
        env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
    )


def wait_for_line(child: subprocess.Popen[str], expected: str, timeout: float = 30.0) -> None:
    assert child.stdout is not None
    ready, _, _ = select.select([child.stdout], [], [], timeout)
    assert ready, f"the child did not say {expected!r} within {timeout}s"
    assert child.stdout.readline().strip() == expected


@pytest.mark.slow
@pytest.mark.process
def test_sigkill_during_an_outage_loses_nothing(
    engine: Engine, outage: Outage, tmp_path: Path
) -> None:
    count = 300
    journal = tmp_path / "audit.journal"
    child = start_child(outage, journal, count)
    try:
        wait_for_line(child, "journaled")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    accepted = journal_ids(journal)
    assert len(accepted) == len(set(accepted)) == count

    outage.bring_back()
    trail_engine = make_engine(outage.up_url)

    async def restart() -> None:
        trail = AuditTrail(trail_engine, journal, FAST)
        await trail.start()
        assert trail.journaled() == count
        await eventually_async(
            lambda: trail.journaled() == 0, "the journal is replayed", within=WITHIN
        )
        await trail.stop()

    try:
        asyncio.run(restart())
    finally:
        trail_engine.dispose()
    assert stored(engine) == Counter(accepted)
    assert {f.name for f in tmp_path.glob("audit.journal*")} == {"audit.journal.lock"}
