"""A request for a role, approved with `leeway requests approve`, opens a running proxy.

`leeway requests` runs as a process of its own, as an operator runs it. On PostgreSQL the
proxy caches entitlements for a minute, so access within 2 seconds is the database's
notification at work; on SQLite (no notifications) it is the cache time limit. The
proxy's /metrics then counts the request as approved, with no person in the labels.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from proxy.store.access_requests import ask
from proxy.store.db import make_engine, session_factory
from tests.conftest import BACKENDS, PostgresDatabases
from tests.e2e.certs import OriginCerts
from tests.e2e.clients import XHR, client
from tests.e2e.conftest import PASSWORDS, Proxies, add_cast
from tests.e2e.fleet import FLEET_CAST
from tests.e2e.origin import Origin
from tests.e2e.proxy_process import LeewayProcess, clean_environment
from tests.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
# How long the proxy caches a person's entitlements, and how soon an approval must be seen.
CACHE_TTL = {"sqlite": 2.0, "postgres": 60.0}
WITHIN = {"sqlite": CACHE_TTL["sqlite"] + 2.0, "postgres": 2.0}


@dataclass
class Served:
    backend: str
    db_url: str
    proxy: LeewayProcess


@pytest.fixture(scope="module", params=BACKENDS)
def served(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: Path,
    origin_certs: OriginCerts,
    htpasswd: Path,
    mitmproxy_ca: Path,
) -> Iterator[Served]:
    """One proxy per backend, on a store with the fleet's cast (tess: trained, no role)."""
    backend: str = request.param
    folder = tmp_path_factory.mktemp(f"requests-{backend}")
    databases: PostgresDatabases | None = None
    if backend == "sqlite":
        path = folder / "leeway.db"
        path.write_bytes(sqlite_template.read_bytes())
        db_url, name = f"sqlite:///{path}", None
    else:
        databases = request.getfixturevalue("postgres_databases")
        template = request.getfixturevalue("postgres_template")
        name = databases.create("leeway_requests", template=template)
        db_url = databases.url(name)
    add_cast(db_url, FLEET_CAST)
    proxies = Proxies(folder, db_url, origin_certs.ca, mitmproxy_ca)
    try:
        env = {"LEEWAY_CACHE_TTL": str(CACHE_TTL[backend])}
        yield Served(backend, db_url, proxies.start("--proxyauth", f"@{htpasswd}", env=env))
        proxies.stop_all()
    finally:
        if databases is not None and name is not None:
            databases.drop(name)


def requests_command(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`leeway requests ARGS` as an operator runs it: a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "proxy.cli", "requests", *args, "--db-url", db_url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
        env={**clean_environment(), "LEEWAY_OPERATOR": "hr-e2e"},
    )


def asked_from_a_page(db_url: str, username: str) -> None:
    """What the request form stores when `username` asks to post for the organisation."""
    engine = make_engine(db_url)
    try:
        with session_factory(engine).begin() as session:
            ask(
                session,
                username=username,
                category="social",
                role="comms-publisher",
                justification="I run the press office's account\x1b[2J",
                now=datetime.now(UTC),
            )
    finally:
        engine.dispose()


def request_gauges(proxy: LeewayProcess) -> dict[str, float]:
    """leeway_access_requests by state, from the proxy's /metrics; every label set seen."""
    text = httpx.get(f"http://127.0.0.1:{proxy.metrics_port}/metrics", timeout=5).text
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "leeway_access_requests":
            for sample in family.samples:
                assert list(sample.labels) == ["state"], "no person in the labels"
                found[sample.labels["state"]] = sample.value
    return found


def test_an_approved_request_opens_posting_within_seconds(
    served: Served, https_origin: Origin, origin_certs: OriginCerts
) -> None:
    url = f"https://www.facebook.com:{https_origin.port}/status"
    with client(served.proxy, origin_certs.ca, login=("tess", PASSWORDS["tess"])) as tess:

        def posting() -> int:
            return tess.post(url, headers=XHR, content=b"hello").status_code

        assert posting() == 403, "trained, but without the role: reminded before posting"
        asked_from_a_page(served.db_url, "tess")
        listed = requests_command(served.db_url, "list", "--state", "pending", "--json")
        assert listed.returncode == 0, listed.stderr
        [pending] = json.loads(listed.stdout)["requests"]
        assert (pending["username"], pending["role"]) == ("tess", "comms-publisher")
        assert posting() == 403, "asking alone gives nothing"
        approved = requests_command(served.db_url, "approve", str(pending["id"]))
        assert approved.returncode == 0, approved.stderr
        assert approved.stdout.startswith(f"approved access request #{pending['id']}: ")
        started = time.monotonic()
        eventually(posting, "tess may post", until=lambda status: status == 200, within=10)
        took = time.monotonic() - started
    print(f"{served.backend}: the approval reached the proxy in {took * 1000:.0f} ms")
    assert took < WITHIN[served.backend]
    assert [seen.method for seen in https_origin.seen] == ["POST"]
    # The proxy's first scrape: the store's counts now, by state only.
    assert request_gauges(served.proxy) == {"pending": 0.0, "approved": 1.0, "denied": 0.0}
    again = requests_command(served.db_url, "approve", str(pending["id"]))
    assert again.returncode == 1
    assert f"access request #{pending['id']} is already approved by hr-e2e" in again.stderr
