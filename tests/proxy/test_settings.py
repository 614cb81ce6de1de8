"""Settings: command-line options win over LEEWAY_* variables, which win over defaults."""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest

from proxy import settings
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
    assert settings.login_name() == "unknown"


def test_a_bad_setting_is_refused_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LEEWAY_OPERATOR", "")
    assert main(["grants", "revoke", "alice", "x"]) == 1
    assert capsys.readouterr().err.startswith("setting operator (LEEWAY_OPERATOR): ")
