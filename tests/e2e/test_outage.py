"""The database stops and comes back while the proxy serves (PostgreSQL, through a TCP
forwarder the test cuts).

During the outage users already cached keep their access, a user the cache does not
know is decided as untrained with reason `store_unavailable`, uncategorised traffic is
untouched and a Continue still works; when the database is back, users are decided
normally again and the Continue is written, all within a few seconds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import PostgresDatabases
from tests.e2e.certs import OriginCerts
from tests.e2e.clients import PAGE, XHR, client, continue_form
from tests.e2e.conftest import PASSWORDS, Proxies
from tests.e2e.forwarder import Forwarder, forwarded_database
from tests.e2e.origin import Origin
from tests.e2e.proxy_process import LeewayProcess
from tests.e2e.records import acknowledgements_of
from tests.waiting import eventually

pytestmark = pytest.mark.postgres

CACHE_TTL = 1.0  # seconds: LEEWAY_CACHE_TTL for this proxy
RECOVERY = 10.0  # seconds the proxy may take to notice that the database is back


@dataclass
class Outage:
    proxy: LeewayProcess
    forwarder: Forwarder
    db_url: str  # straight to PostgreSQL, not through the forwarder


@pytest.fixture
def outage(
    tmp_path: Path,
    postgres_databases: PostgresDatabases,
    postgres_template: str,
    origin_certs: OriginCerts,
    htpasswd: Path,
    mitmproxy_ca: Path,
) -> Iterator[Outage]:
    # The server trusts local connections: the password is there to be masked.
    with forwarded_database(
        postgres_databases, postgres_template, "leeway_e2e", password="hunter2"
    ) as db:
        proxies = Proxies(tmp_path, db.through, origin_certs.ca, mitmproxy_ca)
        proxy = proxies.start(
            "--proxyauth", f"@{htpasswd}", env={"LEEWAY_CACHE_TTL": str(CACHE_TTL)}
        )
        yield Outage(proxy, db.forwarder, db.direct)
        proxies.stop_all()


def as_user(outage: Outage, user: str, origin_certs: OriginCerts) -> httpx.Client:
    return client(outage.proxy, origin_certs.ca, login=(user, PASSWORDS[user]))


def test_the_database_stops_and_comes_back(
    outage: Outage, https_origin: Origin, http_origin: Origin, origin_certs: OriginCerts
) -> None:
    social = f"https://www.facebook.com:{https_origin.port}"
    plain = f"http://www.example.org:{http_origin.port}/"
    with as_user(outage, "trina", origin_certs) as trina:
        assert trina.get(f"{social}/feed", headers=XHR).status_code == 200  # now cached

        outage.forwarder.stop()
        time.sleep(CACHE_TTL + 0.5)  # trina's entry is stale: the proxy tries the store

        kept = trina.get(f"{social}/feed", headers=XHR)
    with as_user(outage, "paul", origin_certs) as paul:
        posted = paul.post(f"{social}/status", headers=XHR)
        read = paul.get(f"{social}/feed", headers=XHR)
    with as_user(outage, "alice", origin_certs) as alice:
        passed_through = alice.get(f"https://www.example.org:{https_origin.port}/")
        plain_http = alice.get(plain)
    with as_user(outage, "ann", origin_certs) as ann:
        form = continue_form(ann.get(f"{social}/", headers=PAGE).text)
        clicked = ann.post(f"{social}{form.action}", data={"token": form.token, "next": "/"})
        acknowledged = ann.get(f"{social}/", headers=PAGE)

    assert kept.status_code == 200, "a cached user keeps access"
    assert "serving entitlements of 'trina' cached" in outage.proxy.log()
    assert posted.status_code == 403
    assert posted.headers["x-leeway-decision"] == (
        "block; reason=store_unavailable; category=social"
    )
    assert read.status_code == 403
    assert read.headers["x-leeway-decision"] == "warn; reason=store_unavailable; category=social"
    assert passed_through.status_code == 200
    assert plain_http.status_code == 200
    assert clicked.status_code == 303
    assert acknowledged.status_code == 200, "a Continue is honoured while the store is down"

    outage.forwarder.start()
    with as_user(outage, "paul", origin_certs) as paul:
        back = eventually(
            lambda: paul.post(f"{social}/status", headers=XHR),
            "paul's post allowed again",
            until=lambda answer: answer.status_code == 200,
            within=RECOVERY,
        )
    assert back.status_code == 200, back.headers.get("x-leeway-decision")
    written = eventually(
        lambda: acknowledgements_of(outage.db_url, "ann"), "ann's Continue stored", within=RECOVERY
    )
    assert written == ["social"], "the Continue made during the outage is stored"
    assert outage.proxy.process is not None
    assert outage.proxy.process.poll() is None
    log = outage.proxy.log()
    assert "Traceback" not in log
    assert "hunter2" not in log
    assert f"database: postgresql+psycopg://postgres:***@127.0.0.1:{outage.forwarder.port}/" in log
