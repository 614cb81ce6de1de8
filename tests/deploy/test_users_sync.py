"""deploy/ for the directory sync: its systemd service and timer run `leeway users sync` with
options it has, the password as a credential, and `ldap.env` holds settings that parse."""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING

import pytest

from proxy.directory.entries import attribute_map
from proxy.directory.groups import group_role
from proxy.directory.settings import LdapSettings
from tests.deploy.kit_support import (
    DEPLOY,
    README,
    assert_leeway_accepts,
    option_value,
    parse_unit,
    require_tool,
    run_tool,
)

if TYPE_CHECKING:
    from pathlib import Path

SYSTEMD = DEPLOY / "systemd"
SERVICE = SYSTEMD / "leeway-users-sync.service"
TIMER = SYSTEMD / "leeway-users-sync.timer"
ENV = SYSTEMD / "ldap.env"
SETTING = re.compile(r"^(LEEWAY_LDAP_\w+)=(.*)$", re.MULTILINE)


def exec_start() -> list[str]:
    (line,) = parse_unit(SERVICE.read_text())["Service"]["ExecStart"]
    return shlex.split(line)


def test_systemd_analyze_verifies_the_service_and_its_timer(tmp_path: Path) -> None:
    tool = require_tool("systemd-analyze", "systemd")
    program = exec_start()[0]
    service = tmp_path / SERVICE.name
    service.write_text(SERVICE.read_text().replace(f"ExecStart={program} ", "ExecStart=/bin/true "))
    timer = tmp_path / TIMER.name
    timer.write_text(TIMER.read_text())
    output = run_tool(tool, "verify", "--man=no", service, timer)
    complaints = [line for line in output.splitlines() if "leeway-users-sync" in line]
    assert complaints == [], "\n".join(complaints)


def test_the_timer_starts_the_oneshot_service_periodically() -> None:
    timer = parse_unit(TIMER.read_text())
    assert timer["Timer"]["Unit"] == [SERVICE.name]
    assert timer["Timer"]["OnUnitActiveSec"], "no interval"
    assert timer["Install"]["WantedBy"] == ["timers.target"]
    assert parse_unit(SERVICE.read_text())["Service"]["Type"] == ["oneshot"]


def test_the_service_runs_sync_with_the_password_as_a_credential() -> None:
    args = exec_start()[1:]
    assert args[:2] == ["users", "sync"]
    assert_leeway_accepts(args, str(SERVICE))
    assert option_value(args, "--bind-password-file").startswith("${CREDENTIALS_DIRECTORY}/")
    service = parse_unit(SERVICE.read_text())["Service"]
    assert service["LoadCredential"] == ["ldap-password:/etc/leeway/ldap-password"]
    assert "/etc/leeway/ldap.env" in service["EnvironmentFile"]


def test_the_env_file_holds_settings_that_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    values = dict(SETTING.findall(ENV.read_text()))
    assert "LEEWAY_LDAP_BIND_PASSWORD" not in values, "the password belongs in a credential"
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings = LdapSettings()
    assert settings.url.startswith("ldaps://")
    assert attribute_map(settings.attribute)["username"] == "sAMAccountName"
    assert [role for _, role in map(group_role, settings.group_role)] == [
        "manager",
        "comms-publisher",
    ]


def test_the_runbook_connects_active_directory() -> None:
    text = README.read_text()
    for needed in ("sAMAccountName", "memberOf", "userAccountControl", "--ldap-ca-file", "paged"):
        assert needed in text, f"deploy/README.md does not cover {needed!r}"
