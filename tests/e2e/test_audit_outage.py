"""The audit trail of a real `leeway run` through PostgreSQL outages: nothing lost, nothing twice.

PostgreSQL is reached through a TCP forwarder that the test stops and starts again. While
it is down, users in the entitlement cache keep being decided and every decision waits
for the store, in memory and then in the journal on local disk. Whether the database
comes back while the proxy runs, or the proxy is killed with SIGKILL during the outage
and a new one starts on the same journal, each event made during the outage ends up in
`access_events` exactly once, and no event is counted as dropped.
"""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from proxy.store.access_event import AccessEvent
from proxy.store.db import make_engine
from proxy.store.models import AccessEvent as EventRow
from tests.conftest import PostgresDatabases
from tests.e2e.certs import OriginCerts
from tests.e2e.clients import PAGE, XHR, client, continue_form
from tests.e2e.conftest import PASSWORDS, Proxies
from tests.e2e.forwarder import Forwarder, forwarded_database
from tests.e2e.origin import Origin
from tests.e2e.proxy_process import LeewayProcess
from tests.e2e.records import Key, events_on
from tests.waiting import eventually

pytestmark = pytest.mark.postgres

INSTANCE = "leeway-outage-3"
ROUNDS = 8  # requests of each kind made during an outage
# The trail retries a failing store after 1, 2, 4 ... seconds: an outage of a few seconds
# is noticed back within about as long again.
RECOVERY = 15.0
# What the trail promises before an event is on disk: `flush_interval` (1 s) plus a write
# or an fsync; the test waits for the journal to hold every event, at most this long.
JOURNALED_WITHIN = 5.0
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate"}


@dataclass
class Store:
    """PostgreSQL behind a forwarder, and the proxies that reach it through the forwarder,
    all on one journal (each in a directory of its own)."""

    forwarder: Forwarder
    direct: str  # straight to PostgreSQL, for the test's own reads
    through: str  # through the forwarder, for the proxies
    directory: Path
    origin_ca: Path
    mitmproxy_ca: Path
    runs: list[Proxies] = field(default_factory=list)

    @property
    def journal(self) -> Path:
        return self.directory / "journal" / "audit.journal"

    def start_proxy(self, htpasswd: Path) -> LeewayProcess:
        directory = self.directory / f"run{len(self.runs)}"
        directory.mkdir()
        proxies = Proxies(directory, self.through, self.origin_ca, self.mitmproxy_ca)
        self.runs.append(proxies)
        env = {"LEEWAY_AUDIT_JOURNAL": str(self.journal), "LEEWAY_INSTANCE": INSTANCE}
        return proxies.start("--proxyauth", f"@{htpasswd}", env=env)

    def kill(self, proxy: LeewayProcess) -> None:
        """SIGKILL `proxy` and wait for it; it is not checked for a clean stop afterwards."""
        assert proxy.process is not None
        proxy.signal(signal.SIGKILL)
        assert proxy.process.wait(timeout=5) == -signal.SIGKILL
        for proxies in self.runs:
            if proxy in proxies.started:
                proxies.started.remove(proxy)

    def stop_all(self) -> None:
        for proxies in self.runs:
            proxies.stop_all()


@pytest.fixture
def store(
    tmp_path: Path,
    postgres_databases: PostgresDatabases,
    postgres_template: str,
    origin_certs: OriginCerts,
    mitmproxy_ca: Path,
) -> Iterator[Store]:
    with forwarded_database(postgres_databases, postgres_template, "leeway_e2e_audit") as db:
        store = Store(db.forwarder, db.direct, db.through, tmp_path, origin_certs.ca, mitmproxy_ca)
        yield store
        store.stop_all()


def as_user(proxy: LeewayProcess, user: str, origin_certs: OriginCerts) -> httpx.Client:
    return client(proxy, origin_certs.ca, login=(user, PASSWORDS[user]))


def stored_twice(db_url: str) -> list[str]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as connection:
            query = select(EventRow.event_id).group_by(EventRow.event_id).having(func.count() > 1)
            return list(connection.scalars(query))
    finally:
        engine.dispose()


def journal_lines(journal: Path) -> list[str]:
    """The complete lines waiting in the journal's replay segment and in the journal.

    The segment is read first: a rotation in between then hides lines (the caller asks
    again) rather than counting them twice."""
    lines: list[str] = []
    for path in (journal.with_name(journal.name + ".replay"), journal):
        if path.exists():
            written = path.read_text()
            lines += [line for line in written[: written.rfind("\n") + 1].splitlines() if line]
    return lines


def journaled(journal: Path) -> int:
    """The requests whose events wait in the journal."""
    return requests_by_key(AccessEvent.from_json(line) for line in journal_lines(journal)).total()


def requests_by_key(events: Iterable[AccessEvent]) -> Counter[Key]:
    """The requests `events` stand for, by kind, username, action and reason."""
    counted: Counter[Key] = Counter()
    for event in events:
        counted[event.kind, event.username, event.action, event.reason] += event.requests
    return counted


def warm_up(proxy: LeewayProcess, store: Store, site: str, origin_certs: OriginCerts) -> None:
    """Put alice and trina in the proxy's cache, and see the trail write while all is well."""
    since = datetime.now(UTC)
    with as_user(proxy, "alice", origin_certs) as alice:
        assert alice.get(f"{site}/feed", headers=XHR).status_code == 403
    with as_user(proxy, "trina", origin_certs) as trina:
        assert trina.get(f"{site}/feed", headers=XHR).status_code == 200
    host = site.split("//")[1].split(":")[0]
    written = eventually(
        lambda: events_on(store.direct, host, since),
        f"2 events for {host} stored",
        until=lambda c: c.total() == 2,
        within=10,
    )
    assert written.total() == 2


def traffic(proxy: LeewayProcess, site: str, origin_certs: OriginCerts) -> Counter[Key]:
    """Categorised requests of users in the cache, and a Continue of one who is not; the
    access events they must make."""
    with (
        as_user(proxy, "alice", origin_certs) as alice,
        as_user(proxy, "trina", origin_certs) as trina,
    ):
        for _ in range(ROUNDS):
            read = alice.get(f"{site}/feed", headers=XHR)
            assert read.headers["x-leeway-decision"] == "warn; reason=rule_matched; category=social"
            posted = alice.post(f"{site}/status", headers=XHR)
            assert posted.headers["x-leeway-decision"].startswith("block; reason=rule_matched")
            assert trina.get(f"{site}/feed", headers=XHR).status_code == 200
    with as_user(proxy, "ann", origin_certs) as ann:  # in no cache: decided as untrained
        form = continue_form(ann.get(f"{site}/", headers=PAGE).text)
        fields = {"token": form.token, "next": "/"}
        assert ann.post(f"{site}{form.action}", data=fields, headers=SAME_ORIGIN).status_code == 303
    return Counter(
        {
            ("decision", "alice", "warn", "rule_matched"): ROUNDS,
            ("decision", "alice", "block", "rule_matched"): ROUNDS,
            ("decision", "trina", "allow", "rule_matched"): ROUNDS,
            ("decision", "ann", "warn", "store_unavailable"): 1,
            ("acknowledgement", "ann", "allow", "acknowledged"): 1,
        }
    )


def dropped(proxy: LeewayProcess) -> float:
    body = httpx.get(f"http://127.0.0.1:{proxy.metrics_port}/metrics", timeout=5).text
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == "leeway_audit_events_dropped_total":
                return sample.value
    raise AssertionError("no leeway_audit_events_dropped_total in /metrics")


def test_events_of_an_outage_arrive_once_when_the_database_is_back(
    store: Store, http_origin: Origin, origin_certs: OriginCerts, htpasswd: Path
) -> None:
    proxy = store.start_proxy(htpasswd)
    warm_up(proxy, store, f"http://www.facebook.com:{http_origin.port}", origin_certs)

    store.forwarder.stop()
    since = datetime.now(UTC)
    made = traffic(proxy, f"http://x.com:{http_origin.port}", origin_certs)
    waited = eventually(
        lambda: journaled(store.journal),
        f"{made.total()} events journaled",
        until=lambda n: n >= made.total(),
        within=JOURNALED_WITHIN,
    )
    store.forwarder.start()

    arrived = eventually(
        lambda: events_on(store.direct, "x.com", since),
        f"{made.total()} events for x.com stored",
        until=lambda c: c.total() >= made.total(),
        within=RECOVERY,
    )
    assert waited == made.total(), "the events waited in the journal during the outage"
    assert arrived == made
    assert dropped(proxy) == 0
    assert proxy.stop() == 0
    assert events_on(store.direct, "x.com", since) == made, "a clean stop writes nothing twice"
    assert stored_twice(store.direct) == []
    assert journaled(store.journal) == 0


def test_events_of_an_outage_survive_a_sigkill_and_arrive_once(
    store: Store, http_origin: Origin, origin_certs: OriginCerts, htpasswd: Path
) -> None:
    killed = store.start_proxy(htpasswd)
    warm_up(killed, store, f"http://www.facebook.com:{http_origin.port}", origin_certs)

    store.forwarder.stop()
    since = datetime.now(UTC)
    made = traffic(killed, f"http://x.com:{http_origin.port}", origin_certs)
    waited = eventually(
        lambda: journaled(store.journal),
        f"{made.total()} events journaled",
        until=lambda n: n >= made.total(),
        within=JOURNALED_WITHIN,
    )
    store.kill(killed)
    assert waited == made.total(), "every event was journaled before the kill"
    on_disk = [AccessEvent.from_json(line) for line in journal_lines(store.journal)]
    assert requests_by_key(on_disk) == made
    assert {event.host for event in on_disk} == {"x.com"}

    store.forwarder.start()
    restarted = store.start_proxy(htpasswd)
    arrived = eventually(
        lambda: events_on(store.direct, "x.com", since),
        f"{made.total()} events for x.com stored",
        until=lambda c: c.total() >= made.total(),
        within=RECOVERY,
    )
    assert arrived == made
    assert f"audit journal {store.journal}: {len(on_disk)} events to replay" in restarted.log()
    assert dropped(restarted) == 0
    assert restarted.stop() == 0
    assert events_on(store.direct, "x.com", since) == made, "nothing is replayed twice"
    assert stored_twice(store.direct) == []
    assert journaled(store.journal) == 0
    assert "Traceback" not in killed.log()
