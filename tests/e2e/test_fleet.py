"""Two `leeway run` instances on one PostgreSQL database, as a fleet behind a PAC file.

A Continue made through one instance is honoured by the other at once, with a token the
other issued (they share the signing key); a training completion, a grant and a revocation
made with the command line reach both within 2 seconds, although their cache time limit is
a minute: the database's notifications do it, not the time limit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import PostgresDatabases
from tests.e2e.certs import OriginCerts
from tests.e2e.clients import PAGE, continue_form
from tests.e2e.conftest import Proxies, add_cast
from tests.e2e.fleet import FLEET_CAST, PROPAGATION, Fleet, Probe, as_user, start_fleet
from tests.e2e.origin import Origin
from tests.e2e.records import acknowledgements_of

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def fleet(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases,
    postgres_template: str,
    origin_certs: OriginCerts,
    htpasswd: Path,
    mitmproxy_ca: Path,
) -> Iterator[Fleet]:
    """Two instances on one migrated PostgreSQL database, with the same CA and logins;
    each has its own port, metrics port, confdir and audit journal."""
    name = postgres_databases.create("leeway_fleet", template=postgres_template)
    db_url = add_cast(postgres_databases.url(name), FLEET_CAST)
    proxies = Proxies(tmp_path_factory.mktemp("fleet"), db_url, origin_certs.ca, mitmproxy_ca)
    try:
        yield start_fleet(proxies, htpasswd)
        proxies.stop_all()
    finally:
        postgres_databases.drop(name)


def test_a_continue_through_one_instance_is_honoured_by_the_other(
    fleet: Fleet, https_origin: Origin, origin_certs: OriginCerts
) -> None:
    site = f"https://www.facebook.com:{https_origin.port}"
    with (
        as_user(fleet.two, "ann", origin_certs) as two,
        as_user(fleet.one, "ann", origin_certs) as one,
    ):
        page = two.get(f"{site}/groups", headers=PAGE)
        assert page.status_code == 403, "instance two warns, and has ann cached as untrained"
        form = continue_form(page.text)
        fields = {"token": form.token, "next": form.next}
        headers = {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate"}
        done = one.post(f"{site}{form.action}", data=fields, headers=headers)
        assert done.status_code == 303, "instance one accepts the token instance two issued"
        again = two.get(f"{site}/groups", headers=PAGE)
    assert again.status_code == 200, again.headers.get("x-leeway-decision")
    assert [s.path for s in https_origin.seen] == ["/groups"]
    assert acknowledgements_of(fleet.db_url, "ann") == ["social"]


@pytest.fixture
def probe(
    fleet: Fleet, https_origin: Origin, origin_certs: OriginCerts
) -> Iterator[Callable[[str, str, str], Probe]]:
    made: list[Probe] = []

    def make(user: str, method: str, path: str) -> Probe:
        url = f"https://www.facebook.com:{https_origin.port}{path}"
        made.append(Probe(fleet, user, origin_certs, method, url))
        return made[-1]

    yield make
    for each in made:
        each.close()


def test_a_training_completion_reaches_every_instance_within_2s(
    probe: Callable[[str, str, str], Probe],
) -> None:
    alice = probe("alice", "GET", "/feed")  # untrained: warned, then allowed to read
    took = alice.change(["training", "record", "alice", "social-media-basics"], 403, 200)
    assert took < PROPAGATION


def test_a_grant_and_its_revocation_reach_every_instance_within_2s(
    probe: Callable[[str, str, str], Probe],
) -> None:
    tess = probe("tess", "POST", "/status")  # reminded before posting until she is granted
    granted = tess.change(["grants", "add", "tess", "comms-publisher"], 403, 200)
    revoked = tess.change(["grants", "revoke", "tess", "comms-publisher"], 200, 403)
    assert granted < PROPAGATION
    assert revoked < PROPAGATION
