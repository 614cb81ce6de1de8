"""People who leave the directory: a real `leeway run` identifies them by their address as
before, but after one `leeway users sync` decides them as a user the store does not know."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from proxy.cli import main as leeway
from tests.e2e.clients import PAGE, client
from tests.ldif_people import SAMPLE_PEOPLE
from tests.slapd_server import SYNC_DN, SYNC_PASSWORD
from tests.waiting import eventually

if TYPE_CHECKING:
    from tests.e2e.conftest import StartProxy
    from tests.e2e.origin import Origin
    from tests.slapd_server import Slapd

pytestmark = pytest.mark.process
DAVES_ADDRESS = "127.0.0.61"  # in the address map
STRANGERS_ADDRESS = "127.0.0.62"  # in no map: unidentified


def run(db_url: str, *args: str) -> None:
    assert leeway([*args, "--db-url", db_url]) == 0, args


def test_a_person_the_directory_drops_keeps_their_address_but_gets_nothing(
    start_proxy: StartProxy, http_origin: Origin, people: str, slapd: Slapd, directory_ou: str
) -> None:
    secret = slapd.password_file(SYNC_PASSWORD)
    sync = ["users", "sync", "--ldap", slapd.url, "--bind-dn", SYNC_DN]
    sync += ["--bind-password-file", str(secret), "--base", directory_ou]
    run(people, *sync)
    run(people, "training", "record", "dave", "social-media-basics")
    run(people, "addresses", "add", f"{DAVES_ADDRESS}/32", "dave")
    proxy = start_proxy("--cache-ttl", "0.5")
    url = f"http://www.facebook.com:{http_origin.port}/feed"

    def decision(address: str) -> str:
        with client(proxy, local_address=address) as http:
            return str(http.get(url, headers=PAGE).headers.get("X-Leeway-Decision", ""))

    assert decision(DAVES_ADDRESS).startswith("allow;"), "trained, found by address"
    stranger = decision(STRANGERS_ADDRESS)
    assert stranger.startswith("warn;")
    dave = next(person for person in SAMPLE_PEOPLE if person.uid == "dave")
    slapd.delete(dave.dn(directory_ou))
    run(people, *sync)
    gone = eventually(
        lambda: decision(DAVES_ADDRESS),
        "dave decided as an unknown user after the sync",
        until=lambda d: not d.startswith("allow;"),
        within=15,
    )
    assert gone == stranger
