"""Tests for proxy.runtime.ldap_login against a real slapd (tests/slapd_server.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from addons.signin_checks import SignInUnavailable
from proxy.runtime.ldap_login import LdapLogin, LoginSpecError
from tests.e2e.forwarder import Forwarder
from tests.slapd_server import SYNC_DN, SYNC_PASSWORD, Slapd


def spec(slapd: Slapd, ou: str, *, password: str = SYNC_PASSWORD) -> str:
    return f"ldap:127.0.0.1:{slapd.port}:{SYNC_DN}:{password}:ou=people,{ou}?search_filter_key=uid"


def login(slapd: Slapd, ou: str, timeout: float = 2.0, **kwargs: str) -> LdapLogin:
    return LdapLogin.parse(spec(slapd, ou, **kwargs), timeout)


def test_the_right_password_gives_the_entrys_own_name(slapd: Slapd, directory_ou: str) -> None:
    check = login(slapd, directory_ou)
    assert check("alice", "alice-password") == "alice"
    assert check("ALICE", "alice-password") == "alice"


@pytest.mark.parametrize(
    ("username", "password"),
    [("alice", "bob-password"), ("alice", ""), ("nobody", "x"), ("*", "alice-password")],
    ids=["wrong password", "empty password", "unknown user", "filter characters"],
)
def test_wrong_credentials_are_none(
    slapd: Slapd, directory_ou: str, username: str, password: str
) -> None:
    assert login(slapd, directory_ou)(username, password) is None


def test_a_refused_service_account_is_unavailable_not_wrong(
    slapd: Slapd, directory_ou: str
) -> None:
    check = login(slapd, directory_ou, password="not-the-password")
    with pytest.raises(SignInUnavailable, match=r"service account .* was refused"):
        check("alice", "alice-password")


def test_a_stopped_directory_is_unavailable_within_the_time_limit(
    slapd: Slapd, directory_ou: str
) -> None:
    check = login(slapd, directory_ou, timeout=0.5)
    slapd.pause()
    try:
        started = time.monotonic()
        with pytest.raises(SignInUnavailable) as raised:
            check("alice", "alice-password")
        assert time.monotonic() - started < 2.0
    finally:
        slapd.resume()
    assert "alice-password" not in str(raised.value)
    assert check("alice", "alice-password") == "alice"  # recovered by itself


def test_a_bad_spec_is_refused_without_repeating_the_password() -> None:
    with pytest.raises(LoginSpecError) as raised:
        LdapLogin.parse("ldapx:host:cn=svc:hunter2:dc=example", 1.0)
    assert "hunter2" not in str(raised.value)
    assert "ldap[s]:HOST" in str(raised.value)
    assert "hunter2" not in repr(LdapLogin.parse("ldap:host:cn=svc:hunter2:dc=example", 1.0))


def ldaps_login(slapd: Slapd, ou: str, host: str, ca_file: Path | None) -> LdapLogin:
    spec = f"ldaps:{host}:{slapd.tls_port}:{SYNC_DN}:{SYNC_PASSWORD}:ou=people,{ou}"
    return LdapLogin.parse(f"{spec}?search_filter_key=uid", 2.0, ca_file)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_ldaps_with_the_offices_ca_file_signs_in(
    slapd: Slapd, directory_ou: str, host: str
) -> None:
    check = ldaps_login(slapd, directory_ou, host, slapd.ca_file)
    assert check("Alice", "alice-password") == "alice"
    assert check("alice", "bob-password") is None


def test_ldaps_without_the_ca_file_is_unavailable_because_not_trusted(
    slapd: Slapd, directory_ou: str
) -> None:
    check = ldaps_login(slapd, directory_ou, "localhost", None)  # the system's CAs only
    with pytest.raises(SignInUnavailable) as raised:
        check("alice", "alice-password")
    message = str(raised.value)
    assert message.startswith(f"ldaps://localhost:{slapd.tls_port}: its certificate is not trusted")
    assert "self-signed certificate in certificate chain" in message
    assert "--auth-ca-file" in message
    assert "alice-password" not in message and SYNC_PASSWORD not in message


def test_ldaps_checks_the_servers_name(slapd: Slapd, directory_ou: str) -> None:
    # The same server and certificate (for localhost and 127.0.0.1) reached as 127.0.0.2.
    forwarder = Forwarder(("127.0.0.1", slapd.tls_port), host="127.0.0.2")
    forwarder.start()
    try:
        spec = (
            f"ldaps:127.0.0.2:{forwarder.port}:{SYNC_DN}:{SYNC_PASSWORD}:ou=people,{directory_ou}"
        )
        check = LdapLogin.parse(f"{spec}?search_filter_key=uid", 2.0, slapd.ca_file)
        with pytest.raises(SignInUnavailable) as raised:
            check("alice", "alice-password")
    finally:
        forwarder.stop()
    assert "its certificate is not trusted (IP address mismatch" in str(raised.value)
    assert "it must name 127.0.0.2" in str(raised.value)


def test_an_unusable_ca_file_is_refused_when_parsed(tmp_path: Path) -> None:
    with pytest.raises(LoginSpecError) as raised:
        LdapLogin.parse("ldaps:dc1:636:cn=svc:hunter2:dc=x", 1.0, tmp_path / "ca.pem")
    assert str(raised.value) == (
        f"the CA file {tmp_path / 'ca.pem'}: cannot read it: No such file or directory"
    )
    assert "hunter2" not in str(raised.value)
