"""`users sync`'s settings, read as the command reads them (its options over its variables):
lists in one variable or a repeated option, refusals that name both, the password's sources."""

from __future__ import annotations

import argparse
import re
from typing import TYPE_CHECKING

import pytest

from proxy.commands.flags import add_setting_flags, flagged, settings_from_arguments
from proxy.directory.settings import DEFAULT_FILTER, LdapSettings
from proxy.settings import SettingError

if TYPE_CHECKING:
    from pathlib import Path

REQUIRED = ("--ldap", "ldap://ldap.example.org", "--bind-dn", "cn=sync,dc=x", "--base", "dc=x")


def settings(*argv: str) -> LdapSettings:
    parser = argparse.ArgumentParser()
    add_setting_flags(parser, flagged(LdapSettings), LdapSettings, "ldap_")
    return settings_from_arguments(LdapSettings, parser.parse_args(argv), "ldap_")


@pytest.fixture(autouse=True)
def no_ldap_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("URL", "BIND_DN", "BASE", "BIND_PASSWORD", "ATTRIBUTE", "GROUP_ROLE"):
        monkeypatch.delenv(f"LEEWAY_LDAP_{name}", raising=False)


def test_every_setting_has_its_variable_and_lists_split(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEEWAY_LDAP_URL", "ldaps://ad.example.org:636")
    monkeypatch.setenv("LEEWAY_LDAP_BIND_DN", "CN=svc,DC=example,DC=org")
    monkeypatch.setenv("LEEWAY_LDAP_BASE", "DC=example,DC=org")
    monkeypatch.setenv("LEEWAY_LDAP_ATTRIBUTE", "username=sAMAccountName, department=department")
    monkeypatch.setenv(
        "LEEWAY_LDAP_GROUP_ROLE", "cn=a,dc=example,dc=org=manager;cn=b,dc=example,dc=org=x"
    )
    found = settings()
    assert found.url == "ldaps://ad.example.org:636"
    assert found.attribute == ["username=sAMAccountName", "department=department"]
    assert found.group_role == ["cn=a,dc=example,dc=org=manager", "cn=b,dc=example,dc=org=x"]
    assert found.filter == DEFAULT_FILTER


def test_the_command_line_overrides_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEEWAY_LDAP_BASE", "dc=from-env")
    monkeypatch.setenv("LEEWAY_LDAP_GROUP_ROLE", "cn=from-env,dc=x=manager")
    found = settings(*REQUIRED, "--ldap-page-size", "7", "--group-role", "cn=a,dc=x=r")
    assert (found.base, found.page_size, found.group_role) == ("dc=x", 7, ["cn=a,dc=x=r"])
    found = settings(
        *REQUIRED, "--attribute", "username=sAMAccountName", "--attribute", "email=upn"
    )
    assert found.attribute == ["username=sAMAccountName", "email=upn"]


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        pytest.param(("--ldap", "http://x"), "--ldap (LEEWAY_LDAP_URL)", id="not an ldap URL"),
        pytest.param(("--filter", "uid=*"), "--filter (LEEWAY_LDAP_FILTER)", id="no parentheses"),
        pytest.param(
            ("--ldap-timeout", "0"), "--ldap-timeout (LEEWAY_LDAP_TIMEOUT)", id="no time at all"
        ),
        pytest.param(
            ("--ldap-page-size", "0"), "--ldap-page-size (LEEWAY_LDAP_PAGE_SIZE)", id="empty pages"
        ),
    ],
)
def test_bad_values_are_refused_naming_the_option_and_its_variable(
    argv: tuple[str, ...], named: str
) -> None:
    with pytest.raises(SettingError, match=re.escape(named)):
        settings(*REQUIRED, *argv)


def test_a_missing_setting_is_named_with_its_variable() -> None:
    with pytest.raises(SettingError, match=re.escape("--base (LEEWAY_LDAP_BASE): Field required")):
        settings(*REQUIRED[:4])


def test_the_password_comes_from_the_file_first(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LEEWAY_LDAP_BIND_PASSWORD", "from-env")
    assert settings(*REQUIRED).read_password() == "from-env"
    secret = tmp_path / "secret"
    secret.write_text("from-file\nignored\n", encoding="utf-8")
    assert settings(*REQUIRED, "--bind-password-file", str(secret)).read_password() == "from-file"


def test_no_password_or_an_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no bind password: give --bind-password-file"):
        settings(*REQUIRED).read_password()
    missing = settings(*REQUIRED, "--bind-password-file", str(tmp_path / "nope"))
    with pytest.raises(ValueError, match=r"cannot read the bind password file .*nope"):
        missing.read_password()
