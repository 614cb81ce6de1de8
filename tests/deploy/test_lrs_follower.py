"""deploy/ for the training follower: its systemd unit and its compose service run
`leeway training sync --follow` with options it has, the password from a file."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from tests.deploy.conftest import load_yaml
from tests.deploy.kit_support import (
    COMPOSE,
    DEPLOY,
    assert_leeway_accepts,
    option_value,
    parse_unit,
    require_tool,
    run_tool,
)

if TYPE_CHECKING:
    from pathlib import Path

UNIT = DEPLOY / "systemd" / "leeway-training-sync.service"


def exec_start() -> list[str]:
    (line,) = parse_unit(UNIT.read_text())["Service"]["ExecStart"]
    return shlex.split(line)


def test_systemd_analyze_verifies_the_follower_unit(tmp_path: Path) -> None:
    tool = require_tool("systemd-analyze", "systemd")
    program = exec_start()[0]
    unit = tmp_path / "leeway-training-sync.service"
    unit.write_text(UNIT.read_text().replace(f"ExecStart={program} ", "ExecStart=/bin/true "))
    output = run_tool(tool, "verify", "--man=no", unit)
    complaints = [line for line in output.splitlines() if "leeway-training-sync" in line]
    assert complaints == [], "\n".join(complaints)


def test_the_follower_unit_runs_sync_with_the_password_as_a_credential() -> None:
    args = exec_start()[1:]
    assert args[:3] == ["training", "sync", "--follow"]
    assert_leeway_accepts([*args, "--lrs", "https://lrs.example.org/xAPI"], str(UNIT))
    password = option_value(args, "--lrs-password-file")
    assert password.startswith("${CREDENTIALS_DIRECTORY}/")
    service = parse_unit(UNIT.read_text())["Service"]
    assert service["LoadCredential"] == ["lrs-password:/etc/leeway/lrs-password"]


def test_the_compose_follower_runs_sync_with_options_it_has() -> None:
    service = load_yaml(COMPOSE)["services"]["training-sync"]
    assert service["profiles"] == ["lrs"]
    assert_leeway_accepts(service["command"], "compose.yaml service training-sync")
    assert service["environment"]["LEEWAY_LRS_PASSWORD_FILE"] == "/run/secrets/lrs-password"
