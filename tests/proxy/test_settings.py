"""Settings: command-line options win over LEEWAY_* variables, which win over defaults."""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest

from proxy import setting_defaults
from proxy.cli import main
from proxy.settings import DEFAULT_DB_URL, Settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(getpass, "getuser", lambda: "jo")
    current = Settings.with_overrides({})
    assert (current.db_url, current.policy, current.operator) == (DEFAULT_DB_URL, None, "jo")


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEEWAY_DB_URL", "postgresql://db/leeway")
    monkeypatch.setenv("LEEWAY_POLICY", "/etc/leeway/policy.toml")
    monkeypatch.setenv("LEEWAY_OPERATOR", "hr-bot")
    current = Settings.with_overrides({"db_url": None})
    assert current.db_url == "postgresql://db/leeway"
    assert current.policy == Path("/etc/leeway/policy.toml")
    assert current.operator == "hr-bot"


def test_options_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEEWAY_DB_URL", "postgresql://db/leeway")
    assert Settings.with_overrides({"db_url": "sqlite://"}).db_url == "sqlite://"


def test_no_login_name_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_login() -> str:
        raise OSError("no login name")

    monkeypatch.setattr(getpass, "getuser", no_login)
    assert setting_defaults.login_name() == "unknown"


def test_a_bad_setting_is_refused_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LEEWAY_OPERATOR", "")
    assert main(["grants", "revoke", "alice", "x"]) == 1
    assert capsys.readouterr().err.startswith("--operator (LEEWAY_OPERATOR): ")


@pytest.mark.parametrize(
    ("given", "journal"),
    [
        pytest.param({}, "leeway-audit.journal", id="default sqlite -> beside leeway.db"),
        pytest.param(
            {"db_url": "sqlite:////var/lib/leeway/office.db"},
            "/var/lib/leeway/office-audit.journal",
            id="sqlite file -> beside it, named after it",
        ),
        pytest.param(
            {"db_url": "postgresql://db/leeway", "confdir": "/var/lib/leeway/mitmproxy"},
            "/var/lib/leeway/mitmproxy/leeway-audit.journal",
            id="postgresql -> the confdir",
        ),
        pytest.param(
            {"db_url": "postgresql://db/leeway"},
            "~/.mitmproxy/leeway-audit.journal",
            id="postgresql, default confdir",
        ),
        pytest.param({"db_url": "sqlite://"}, "~/.mitmproxy/leeway-audit.journal", id="memory"),
        pytest.param(
            {"db_url": "sqlite:////srv/leeway.db", "audit_journal": "/spool/audit.journal"},
            "/spool/audit.journal",
            id="named -> as named",
        ),
    ],
)
def test_the_audit_journal_goes_with_the_database(
    given: dict[str, str], journal: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("LEEWAY_DB_URL", "LEEWAY_CONFDIR", "LEEWAY_AUDIT_JOURNAL"):
        monkeypatch.delenv(name, raising=False)
    assert Settings.with_overrides(given).audit_journal == Path(journal)


def test_a_named_journal_in_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEEWAY_DB_URL", "sqlite:////srv/leeway.db")
    monkeypatch.setenv("LEEWAY_AUDIT_JOURNAL", "/spool/audit.journal")
    assert Settings.with_overrides({}).audit_journal == Path("/spool/audit.journal")
    monkeypatch.delenv("LEEWAY_AUDIT_JOURNAL")
    assert Settings.with_overrides({}).audit_journal == Path("/srv/leeway-audit.journal")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param("Access.Office.Example.", "access.office.example", id="normal form"),
        pytest.param("bücher.example", "xn--bcher-kva.example", id="punycode"),
        pytest.param("leeway", "leeway", id="a single label"),
    ],
)
def test_the_portal_host_is_a_host_name_in_its_normal_form(given: str, expected: str) -> None:
    assert Settings.with_overrides({"portal_host": given}).portal_host == expected
    assert Settings.with_overrides({}).portal_host == "leeway.internal"


@pytest.mark.parametrize(
    ("given", "why"),
    [
        pytest.param("10.0.0.5", "is an address", id="IPv4"),
        pytest.param("[::1]", "", id="IPv6"),
        pytest.param("leeway internal", "not a host name", id="space"),
        pytest.param("http://leeway.internal/", "without scheme or path", id="a URL"),
    ],
)
def test_a_portal_host_that_is_no_host_name_is_refused(
    given: str, why: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LEEWAY_PORTAL_HOST", given)
    assert main(["run", "--db-url", "sqlite://"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("--portal-host (LEEWAY_PORTAL_HOST): ") and why in err
