"""The directory client against the test slapd: paged search, reads, and one-line errors."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from proxy.directory.client import DirectoryClient, DirectoryError, Endpoint
from tests.ldif_people import SAMPLE_PEOPLE, group_dn
from tests.slapd_server import (
    LIMITED_DN,
    SMALL_SIZE_LIMIT,
    SYNC_DN,
    SYNC_PASSWORD,
    TRUNCATED_DN,
    free_port,
)

if TYPE_CHECKING:
    from tests.slapd_server import Slapd

pytestmark = pytest.mark.process  # a real slapd
PEOPLE = "(objectClass=inetOrgPerson)"


def endpoint(slapd: Slapd, dn: str = SYNC_DN, password: str = SYNC_PASSWORD) -> Endpoint:
    return Endpoint(slapd.url, dn, password, timeout=2)


def test_a_paged_search_reads_past_the_size_limit(slapd: Slapd, directory_ou: str) -> None:
    with DirectoryClient(endpoint(slapd, LIMITED_DN)) as client:
        found = list(client.search(directory_ou, "(objectClass=*)", ["cn"], page_size=2))
    assert len(found) > SMALL_SIZE_LIMIT
    uids = {dn.split(",")[0][4:] for dn, _ in found if dn.startswith("uid=")}
    assert uids == {person.uid for person in SAMPLE_PEOPLE}


def test_an_answer_cut_short_by_the_size_limit_is_an_error(slapd: Slapd, directory_ou: str) -> None:
    """ldap3 takes sizeLimitExceeded for success: a partial directory would deactivate people."""
    with (
        DirectoryClient(endpoint(slapd, TRUNCATED_DN)) as client,
        pytest.raises(DirectoryError) as e,
    ):
        list(client.search(directory_ou, "(objectClass=*)", ["cn"], page_size=2))
    assert "the server's size limit cut the answer short" in str(e.value)


def test_attributes_come_as_lists_and_a_missing_entry_as_none(
    slapd: Slapd, directory_ou: str
) -> None:
    with DirectoryClient(endpoint(slapd)) as client:
        [(dn, attributes)] = client.search(directory_ou, "(uid=alice)", ["cn", "mail"], 10)
        managers = client.read(group_dn(directory_ou, "managers"), ["member"])
        missing = client.read(group_dn(directory_ou, "nope"), ["member"])
    assert dn == SAMPLE_PEOPLE[0].dn(directory_ou)
    assert attributes == {"cn": ["Alice Archer"], "mail": ["alice@example.org"]}
    assert managers is not None
    assert len(managers["member"]) == 2
    assert missing is None


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param("password", "invalid credentials", id="bad password"),
        pytest.param("dn", "invalid credentials", id="unknown bind DN"),
        pytest.param("port", "cannot connect", id="nobody listening"),
    ],
)
def test_a_failed_bind_is_one_line_naming_the_server(
    slapd: Slapd, change: str, expected: str
) -> None:
    given = {
        "password": Endpoint(slapd.url, SYNC_DN, "wrong"),
        "dn": Endpoint(slapd.url, f"cn=nobody,{SYNC_DN.split(',', 1)[1]}", SYNC_PASSWORD),
        "port": Endpoint(f"ldap://127.0.0.1:{free_port()}", SYNC_DN, SYNC_PASSWORD, timeout=2),
    }[change]
    with pytest.raises(DirectoryError) as e:
        DirectoryClient(given).open()
    message = str(e.value)
    assert expected in message
    assert given.url in message
    assert "\n" not in message
    assert given.password not in message


def test_a_bad_base_is_named(slapd: Slapd) -> None:
    with DirectoryClient(endpoint(slapd)) as client, pytest.raises(DirectoryError) as e:
        list(client.search("ou=nowhere,dc=example,dc=org", PEOPLE, ["cn"], 10))
    assert "ou=nowhere,dc=example,dc=org" in str(e.value)
    assert "no such entry" in str(e.value)


def test_a_stalled_server_fails_within_the_time_limit(slapd: Slapd, directory_ou: str) -> None:
    client = DirectoryClient(endpoint(slapd))
    client.open()
    slapd.pause()
    try:
        started = time.monotonic()
        with pytest.raises(DirectoryError, match="no answer within 2 s"):
            list(client.search(directory_ou, PEOPLE, ["cn"], 10))
        assert time.monotonic() - started < 10
    finally:
        slapd.resume()
        client.close()


def test_ldaps_verifies_the_server_against_the_ca_file(slapd: Slapd, directory_ou: str) -> None:
    trusted = Endpoint(slapd.ldaps_url, SYNC_DN, SYNC_PASSWORD, slapd.ca_file, timeout=5)
    with DirectoryClient(trusted) as client:
        assert len(list(client.search(directory_ou, PEOPLE, ["cn"], 10))) == len(SAMPLE_PEOPLE)
    untrusted = Endpoint(slapd.ldaps_url, SYNC_DN, SYNC_PASSWORD, timeout=5)
    with pytest.raises(DirectoryError) as e:
        DirectoryClient(untrusted).open()
    assert slapd.ldaps_url in str(e.value)
    assert "certificate verify failed" in str(e.value)
    assert "\n" not in str(e.value)
