"""Two `leeway run` instances on a PostgreSQL server of their own, which is really restarted
(`pg_ctl restart -m fast`), and stopped and started again, while traffic flows through both.

No request fails: users in the entitlement cache keep their decisions, and the others
are decided by the fail mode (untrained, reason `store_unavailable`) while the store is
down. Each instance then recovers by itself, without a restart: its LISTEN connection is
re-made (a command-line change reaches both within 2 seconds again, although their cache
time limit is a minute), a Continue made through one is honoured by the other, visitors
are decided by the rules again, and what was acknowledged or audited during the outage
is in the database, once.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from proxy.cli import main as leeway
from tests.e2e.certs import OriginCerts
from tests.e2e.clients import PAGE, XHR, client, continue_form
from tests.e2e.conftest import Proxies, add_cast
from tests.e2e.fleet import FLEET_CAST, PROPAGATION, Fleet, Probe, as_user, start_fleet
from tests.e2e.origin import Origin
from tests.e2e.private_postgres import PrivatePostgres
from tests.e2e.records import Key, acknowledgements_of, events_on
from tests.e2e.traffic import Traffic, new_visitor, write_htpasswd
from tests.waiting import eventually

pytestmark = [pytest.mark.postgres, pytest.mark.slow]  # about 20 s

# Seconds an instance may take to hear changes again once the server is back (its LISTEN
# connection is re-made after 1, 2, 4, then every 5 seconds), and for the writes that
# waited (the audit trail retries after 1, 2, 4 ... seconds).
RECOVERY = 15.0
DOWN = 3.0  # seconds the server stays stopped: the instances retry it more than once
AUDIT_FLUSH = 1.5  # seconds: the audit trail writes (and ends its counting) every second
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate"}
HEARING_AGAIN = "hearing changes again"
WARN = "warn; reason=rule_matched; category=social"


@pytest.fixture(scope="module")
def fleet(
    tmp_path_factory: pytest.TempPathFactory,
    private_postgres: PrivatePostgres,
    origin_certs: OriginCerts,
    htpasswd: Path,
    mitmproxy_ca: Path,
) -> Iterator[Fleet]:
    """Two instances on a database migrated with `leeway db upgrade` on the private server;
    the visitors of the traffic can log in as well as everyone else."""
    directory = tmp_path_factory.mktemp("fleet-restart")
    db_url = private_postgres.create_database("leeway")
    assert leeway(["db", "upgrade", "--db-url", db_url]) == 0
    add_cast(db_url, FLEET_CAST)
    logins = write_htpasswd(directory / "htpasswd", htpasswd)
    proxies = Proxies(directory, db_url, origin_certs.ca, mitmproxy_ca)
    yield start_fleet(proxies, logins)
    proxies.stop_all()


def warm_up(fleet: Fleet, site: str, origin_certs: OriginCerts) -> None:
    """Put trina and alice in both instances' caches, and let the audit trail's flush end:
    identical decisions within one flush are one event, dated by the first of them, and
    the test's decisions must not join the warm-up's, dated before the test began."""
    for proxy in fleet.instances:
        with as_user(proxy, "trina", origin_certs) as trina:
            assert trina.get(f"{site}/feed", headers=XHR).status_code == 200
        with as_user(proxy, "alice", origin_certs) as alice:
            assert alice.get(f"{site}/feed", headers=XHR).headers["x-leeway-decision"] == WARN
    time.sleep(AUDIT_FLUSH)


def hearing_again(fleet: Fleet) -> list[int]:
    """How often each instance has re-made its LISTEN connection."""
    return [proxy.log().count(HEARING_AGAIN) for proxy in fleet.instances]


def wait_hearing_again(fleet: Fleet, before: list[int]) -> None:
    """Wait until each instance has re-made its LISTEN connection once more than `before`."""
    now = eventually(
        lambda: hearing_again(fleet),
        f"each instance re-makes its LISTEN connection (times before: {before})",
        until=lambda counts: all(n > b for n, b in zip(counts, before, strict=True)),
        within=RECOVERY,
    )
    assert all(n > b for n, b in zip(now, before, strict=True)), "LISTEN was not re-made"


def audited(db_url: str, host: str, since: datetime, made: Counter[Key]) -> Counter[Key]:
    """The events stored for `host` since `since`, once there are as many as `made`."""
    return eventually(
        lambda: events_on(db_url, host, since),
        f"{made.total()} events for {host} stored",
        until=lambda stored: stored.total() >= made.total(),
        within=RECOVERY,
    )


def recovered(fleet: Fleet, origin: Origin, origin_certs: OriginCerts, user: str) -> None:
    """Both instances decide by the store again, and share a Continue made through one."""
    site = f"http://facebook.com:{origin.port}"
    for proxy in fleet.instances:
        name, password = new_visitor()
        with client(proxy, origin_certs.ca, login=(name, password)) as visitor:
            posted = visitor.post(f"{site}/status", headers=XHR)
        assert posted.headers["x-leeway-decision"] == "block; reason=rule_matched; category=social"
    with (
        as_user(fleet.two, user, origin_certs) as two,
        as_user(fleet.one, user, origin_certs) as one,
    ):
        page = two.get(f"{site}/", headers=PAGE)
        assert page.headers["x-leeway-decision"] == WARN
        form = continue_form(page.text)
        fields = {"token": form.token, "next": form.next}
        assert one.post(f"{site}{form.action}", data=fields, headers=SAME_ORIGIN).status_code == 303
        again = eventually(
            lambda: two.get(f"{site}/", headers=PAGE),
            "the page opens on the other instance",
            until=lambda r: r.status_code == 200,
            within=PROPAGATION,
        )
    assert again.status_code == 200, again.headers.get("x-leeway-decision")
    assert acknowledgements_of(fleet.db_url, user) == ["social"]


def test_a_fast_restart_during_traffic(
    fleet: Fleet, private_postgres: PrivatePostgres, http_origin: Origin, origin_certs: OriginCerts
) -> None:
    site = f"http://www.facebook.com:{http_origin.port}"
    warm_up(fleet, site, origin_certs)
    listening = hearing_again(fleet)
    since = datetime.now(UTC)
    with Traffic(fleet, origin_certs, http_origin.port) as traffic:
        time.sleep(0.5)
        restarting = time.monotonic()
        private_postgres.restart()
        restarted = time.monotonic()
        wait_hearing_again(fleet, listening)
        time.sleep(0.5)  # and a little traffic after

    assert traffic.wrong() == [], "every request answered with the user's decision"
    for proxy in fleet.instances:
        assert traffic.between(restarting, restarted, proxy) > 0, "traffic during the restart"
    made = traffic.events()
    assert audited(fleet.db_url, "www.facebook.com", since, made) == made
    recovered(fleet, http_origin, origin_certs, "bea")
    tess = Probe(fleet, "tess", origin_certs, "POST", f"{site}/status")
    try:
        assert tess.change(["grants", "add", "tess", "comms-publisher"], 403, 200) < PROPAGATION
    finally:
        tess.close()


def during_the_outage(fleet: Fleet, site: str, origin_certs: OriginCerts) -> Counter[Key]:
    """Requests while the server is down; the access events they must make."""
    for proxy in fleet.instances:
        with as_user(proxy, "trina", origin_certs) as trina:
            assert trina.get(f"{site}/feed", headers=XHR).status_code == 200, "trina is cached"
        with as_user(proxy, "alice", origin_certs) as alice:
            assert alice.get(f"{site}/feed", headers=XHR).headers["x-leeway-decision"] == WARN
        with as_user(proxy, "paul", origin_certs) as paul:  # a publisher, but in no cache
            posted = paul.post(f"{site}/status", headers=XHR)
        assert posted.headers["x-leeway-decision"] == (
            "block; reason=store_unavailable; category=social"
        )
    with as_user(fleet.one, "ann", origin_certs) as ann:
        page = ann.get(f"{site}/", headers=PAGE)
        assert page.headers["x-leeway-decision"] == (
            "warn; reason=store_unavailable; category=social"
        )
        form = continue_form(page.text)
        fields = {"token": form.token, "next": form.next}
        assert ann.post(f"{site}{form.action}", data=fields, headers=SAME_ORIGIN).status_code == 303
        assert ann.get(f"{site}/", headers=PAGE).status_code == 200, "honoured while down"
    return Counter(
        {
            ("decision", "trina", "allow", "rule_matched"): 2,
            ("decision", "alice", "warn", "rule_matched"): 2,
            ("decision", "paul", "block", "store_unavailable"): 2,
            ("decision", "ann", "warn", "store_unavailable"): 1,
            ("acknowledgement", "ann", "allow", "acknowledged"): 1,
            ("decision", "ann", "allow", "store_unavailable"): 1,  # acknowledged, in memory
        }
    )


def test_a_stop_and_a_start_during_traffic(
    fleet: Fleet, private_postgres: PrivatePostgres, http_origin: Origin, origin_certs: OriginCerts
) -> None:
    site = f"http://x.com:{http_origin.port}"
    warm_up(fleet, site, origin_certs)
    listening = hearing_again(fleet)
    with Traffic(fleet, origin_certs, http_origin.port) as traffic:
        private_postgres.stop()
        since = datetime.now(UTC)
        stopped = time.monotonic()
        made = during_the_outage(fleet, site, origin_certs)
        time.sleep(max(0.0, stopped + DOWN - time.monotonic()))
        starting = time.monotonic()
        private_postgres.start()
        wait_hearing_again(fleet, listening)
        print(f"both instances hear changes again {time.monotonic() - starting:.1f} s after")

    assert traffic.wrong() == [], "every request answered with the user's decision"
    for proxy in fleet.instances:
        assert traffic.between(stopped, starting, proxy) > 0, "traffic while the server was down"
    assert audited(fleet.db_url, "x.com", since, made) == made
    acknowledged = eventually(
        lambda: acknowledgements_of(fleet.db_url, "ann"), "ann's Continue stored", within=RECOVERY
    )
    assert acknowledged == ["social"], "the Continue made while the server was down is stored"
    with as_user(fleet.two, "ann", origin_certs) as ann:
        honoured = eventually(
            lambda: ann.get(f"{site}/", headers=PAGE),
            "ann's Continue honoured by the other instance",
            until=lambda r: r.status_code == 200,
            within=PROPAGATION,
        )
    assert honoured.status_code == 200, "and honoured by the other instance"
    recovered(fleet, http_origin, origin_certs, "cal")
    paul = Probe(fleet, "paul", origin_certs, "POST", f"{site}/status")
    try:
        assert paul.change(["grants", "revoke", "paul", "comms-publisher"], 200, 403) < PROPAGATION
    finally:
        paul.close()
