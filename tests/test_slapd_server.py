"""The slapd fixture itself: a private server with the sample people, limits and pausing."""

from __future__ import annotations

import socket
import subprocess
from typing import TYPE_CHECKING

import pytest

from tests.ldif_people import SAMPLE_PEOPLE, group_dn
from tests.slapd_server import LIMITED_DN, SMALL_SIZE_LIMIT, SYNC_DN, SYNC_PASSWORD, Slapd

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.process


def search(
    slapd: Slapd, bind_dn: str, base: str, *extra: str, within: float = 30.0
) -> subprocess.CompletedProcess[str]:
    secret = slapd.password_file(SYNC_PASSWORD)
    command = ["ldapsearch", "-x", "-LLL", "-H", slapd.url, "-D", bind_dn, "-y", str(secret)]
    command += ["-b", base, *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=within)


def test_the_sample_people_and_the_nested_group_are_there(slapd: Slapd, directory_ou: str) -> None:
    found = search(slapd, SYNC_DN, directory_ou, "(objectClass=inetOrgPerson)", "uid", "ou")
    assert found.returncode == 0, found.stderr
    assert sorted(line[5:] for line in found.stdout.splitlines() if line.startswith("uid: ")) == (
        sorted(person.uid for person in SAMPLE_PEOPLE)
    )
    managers = search(slapd, SYNC_DN, group_dn(directory_ou, "managers"), "-s", "base", "member")
    assert f"member: {group_dn(directory_ou, 'senior')}" in managers.stdout


def test_the_service_account_cannot_read_passwords(slapd: Slapd, directory_ou: str) -> None:
    found = search(slapd, SYNC_DN, directory_ou, "(uid=alice)", "userPassword", "cn")
    assert found.returncode == 0, found.stderr
    assert "cn: Alice Archer" in found.stdout
    assert "userPassword" not in found.stdout


def test_a_wrong_password_is_refused(slapd: Slapd, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password", encoding="utf-8")
    command = ["ldapwhoami", "-x", "-H", slapd.url, "-D", SYNC_DN, "-y", str(wrong)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert done.returncode == 49, done.stderr  # invalidCredentials


def test_the_limited_account_needs_paging_past_the_size_limit(
    slapd: Slapd, directory_ou: str
) -> None:
    everything = "(objectClass=*)"
    plain = search(slapd, LIMITED_DN, directory_ou, everything, "dn")
    assert plain.returncode == 4, plain.stderr  # sizeLimitExceeded
    assert plain.stdout.count("dn: ") == SMALL_SIZE_LIMIT
    paged = search(slapd, LIMITED_DN, directory_ou, "-E", "pr=2/noprompt", everything, "dn")
    assert paged.returncode == 0, paged.stderr
    assert paged.stdout.count("dn: ") > SMALL_SIZE_LIMIT


def test_a_paused_server_accepts_but_never_answers_until_resumed(
    slapd: Slapd, directory_ou: str
) -> None:
    slapd.pause()
    try:
        with socket.create_connection(("127.0.0.1", slapd.port), timeout=2):
            pass  # the kernel completes the handshake: connections are accepted
        with pytest.raises(subprocess.TimeoutExpired):
            search(slapd, SYNC_DN, directory_ou, "(uid=alice)", "cn", within=2.0)
    finally:
        slapd.resume()
    assert "cn: Alice Archer" in search(slapd, SYNC_DN, directory_ou, "(uid=alice)", "cn").stdout


def test_each_test_gets_an_ou_of_its_own(slapd: Slapd) -> None:
    first, second = slapd.new_ou(), slapd.new_ou()
    assert first != second
    slapd.add(SAMPLE_PEOPLE[0].ldif(first))
    assert search(slapd, SYNC_DN, second, "(uid=alice)", "dn").stdout == ""
