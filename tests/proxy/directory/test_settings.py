"""`users sync`'s settings: variables, lists in one variable, and the password's sources."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from pydantic import ValidationError

from proxy.directory.settings import DEFAULT_FILTER, LdapSettings

if TYPE_CHECKING:
    from pathlib import Path

REQUIRED = {"url": "ldap://ldap.example.org", "bind_dn": "cn=sync,dc=x", "base": "dc=x"}


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
    settings = LdapSettings.with_overrides({"timeout": None, "group_role": []})
    assert settings.url == "ldaps://ad.example.org:636"
    assert settings.attribute == ["username=sAMAccountName", "department=department"]
    assert settings.group_role == ["cn=a,dc=example,dc=org=manager", "cn=b,dc=example,dc=org=x"]
    assert settings.filter == DEFAULT_FILTER


def test_the_command_line_overrides_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEEWAY_LDAP_BASE", "dc=from-env")
    settings = LdapSettings.with_overrides({**REQUIRED, "page_size": 7})
    assert (settings.base, settings.page_size) == ("dc=x", 7)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("url", "http://ldap.example.org", id="not an ldap URL"),
        pytest.param("filter", "objectClass=person", id="filter without parentheses"),
        pytest.param("timeout", 0, id="no time at all"),
        pytest.param("page_size", 0, id="empty pages"),
    ],
)
def test_bad_values_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        LdapSettings.with_overrides({**REQUIRED, field: value})


def test_the_password_comes_from_the_file_first(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LEEWAY_LDAP_BIND_PASSWORD", "from-env")
    assert LdapSettings.with_overrides(REQUIRED).read_password() == "from-env"
    secret = tmp_path / "secret"
    secret.write_text("from-file\nignored\n", encoding="utf-8")
    settings = LdapSettings.with_overrides({**REQUIRED, "bind_password_file": secret})
    assert settings.read_password() == "from-file"


def test_no_password_or_an_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no bind password: give --bind-password-file"):
        LdapSettings.with_overrides(REQUIRED).read_password()
    missing = LdapSettings.with_overrides({**REQUIRED, "bind_password_file": tmp_path / "nope"})
    with pytest.raises(ValueError, match=r"cannot read the bind password file .*nope"):
        missing.read_password()
