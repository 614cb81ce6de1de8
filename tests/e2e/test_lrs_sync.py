"""Training that arrives by itself: a completion posted to a real LRS (Ralph) opens a site
on a running `leeway run` after one `leeway training sync`, and its voiding closes it again.

On SQLite within the proxy's cache time; on PostgreSQL on every running proxy within 2 s
of the sync's end, although their cache time is a minute (the database's notifications).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from proxy.cli import main as leeway
from tests.e2e.clients import PAGE, client
from tests.e2e.conftest import CAST, PASSWORDS, Proxies, add_cast
from tests.e2e.fleet import PROPAGATION, Fleet, Probe, start_fleet
from tests.lrs_server import PASSWORD, USER, statement, voiding
from tests.proxy.lrs.conftest import BASICS, start_cursor_now
from tests.waiting import eventually

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.conftest import PostgresDatabases
    from tests.e2e.certs import OriginCerts
    from tests.e2e.conftest import StartProxy
    from tests.e2e.origin import Origin
    from tests.lrs_server import Ralph


def sync(lrs: Ralph, db_url: str) -> None:
    code = leeway(["training", "sync", "--lrs", lrs.url, "--lrs-user", USER, "--db-url", db_url])
    assert code == 0


def test_a_completion_in_the_lrs_opens_the_site_and_its_voiding_closes_it(
    start_proxy: StartProxy,
    htpasswd: Path,
    http_origin: Origin,
    people: str,
    ralph: Ralph,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEEWAY_LRS_PASSWORD", PASSWORD)
    assert (
        leeway(["users", "add", "alice", "--email", "alice@example.org", "--db-url", people]) == 0
    )
    start_cursor_now(people, ralph.url)
    proxy = start_proxy("--proxyauth", f"@{htpasswd}")
    url = f"http://www.facebook.com:{http_origin.port}/feed"
    with client(proxy, login=("alice", PASSWORDS["alice"])) as http:

        def decision() -> str:
            return str(http.get(url, headers=PAGE).headers.get("X-Leeway-Decision", ""))

        assert decision().startswith("warn;")
        completed = statement("alice@example.org", BASICS)
        ralph.post([completed])
        sync(ralph, people)
        # Within the proxy's cache time (SQLite has no notifications).
        assert eventually(
            decision,
            "alice allowed after the sync",
            until=lambda d: d.startswith("allow;"),
            within=15,
        ).startswith("allow;")
        ralph.post([voiding(completed["id"])])
        sync(ralph, people)
        assert eventually(
            decision,
            "alice warned again after the voiding",
            until=lambda d: d.startswith("warn;"),
            within=15,
        ).startswith("warn;")


@pytest.fixture(scope="module")
def postgres_fleet(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases,
    postgres_template: str,
    origin_certs: OriginCerts,
    htpasswd: Path,
    mitmproxy_ca: Path,
) -> Iterator[Fleet]:
    """Two `leeway run` on one PostgreSQL database whose cache time is a minute; `gus`
    (untrained) has an e-mail address the LRS knows him by."""
    name = postgres_databases.create("leeway_lrs", template=postgres_template)
    cast = [*CAST, ["users", "add", "gus", "--email", "gus@example.org"]]
    db_url = add_cast(postgres_databases.url(name), cast)
    proxies = Proxies(tmp_path_factory.mktemp("lrs-fleet"), db_url, origin_certs.ca, mitmproxy_ca)
    try:
        yield start_fleet(proxies, htpasswd)
        proxies.stop_all()
    finally:
        postgres_databases.drop(name)


@pytest.mark.postgres
def test_on_postgresql_a_completion_and_its_voiding_reach_every_proxy_within_2s(
    postgres_fleet: Fleet,
    http_origin: Origin,
    origin_certs: OriginCerts,
    ralph: Ralph,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEEWAY_LRS_PASSWORD", PASSWORD)
    start_cursor_now(postgres_fleet.db_url, ralph.url)
    sync = ["training", "sync", "--lrs", ralph.url, "--lrs-user", USER]
    url = f"http://www.facebook.com:{http_origin.port}/feed"
    gus = Probe(postgres_fleet, "gus", origin_certs, "GET", url)
    try:
        completed = statement("gus@example.org", BASICS)
        ralph.post([completed])
        # Warned (a script's request: 403) on both, and cached so; then allowed on both.
        opened = gus.change(sync, 403, 200)
        ralph.post([voiding(completed["id"])])
        closed = gus.change(sync, 200, 403)
    finally:
        gus.close()
    assert opened < PROPAGATION
    assert closed < PROPAGATION
