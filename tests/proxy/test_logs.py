"""Loggers are named `leeway.<area>`; the command line sets the levels, once, for `run` alone."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULE_LOGGER = re.compile(r"^\w+ = logging\.getLogger\((.*)\)$", re.MULTILINE)

# Runs one command line in-process and prints the levels it left behind.
LEVELS = """
import logging, sys
import proxy.cli
code = proxy.cli.main(sys.argv[1:])
server = logging.getLogger("mitmproxy.proxy.server").level
print(code, logging.getLevelName(logging.getLogger().level), logging.getLevelName(server))
"""


def test_every_logger_is_named_after_its_area() -> None:
    names = {
        f"{path.relative_to(ROOT)}: {name}"
        for package in ("proxy", "addons", "policy")
        for path in (ROOT / package).rglob("*.py")
        for name in MODULE_LOGGER.findall(path.read_text(encoding="utf-8"))
    }
    assert len(names) > 10, f"only {sorted(names)}: has the pattern gone stale?"
    odd = sorted(n for n in names if not re.search(r': "leeway\.[a-z_]+"$', n))
    assert odd == [], 'expected logging.getLogger("leeway.<area>")'


def levels_after(*args: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEEWAY_")}
    done = subprocess.run(
        [sys.executable, "-c", LEVELS, *args],
        cwd=cwd,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.stdout, done.stderr
    return done.stdout.strip()


@pytest.mark.process
def test_run_logs_info_before_it_serves(tmp_path: Path) -> None:
    """Set by the command line: even a `run` that stops before serving has set them."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        db = f"sqlite:///{tmp_path / 'leeway.db'}"
        args = ("run", "--listen-port", port, "--metrics-port", "0", "--db-url", db)
        assert levels_after(*args, cwd=tmp_path) == "1 INFO WARNING"


@pytest.mark.process
@pytest.mark.parametrize("args", [["policy", "check", "policy/default_policy.toml"], ["--help"]])
def test_administration_commands_keep_the_default_level(args: list[str]) -> None:
    assert levels_after(*args, cwd=ROOT).splitlines()[-1] == "0 WARNING NOTSET"
