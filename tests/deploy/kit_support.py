"""Helpers for the deployment kit's tests: the kit's paths, its tools, and `leeway` arguments."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from proxy.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "systemd" / "leeway.service"
ENV_FILE = DEPLOY / "systemd" / "leeway.env"
CONTAINERFILE = DEPLOY / "container" / "Containerfile"
COMPOSE = DEPLOY / "compose.yaml"
SQUID = DEPLOY / "squid" / "squid.conf"
README = DEPLOY / "README.md"
# Every address of a container or host: what a proxy reached by others listens on.
ALL_INTERFACES = "0.0.0.0"  # noqa: S104
TRUSTED_HEADER = re.compile(r"--trusted-header[ =](\S+)")


def require_tool(name: str, package: str) -> str:
    """The tool's path; skipped when absent, except on CI, which must install the package."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} not found: install it with `apt-get install {package}`"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI must install it (.ci/run)")
        pytest.skip(message)
    return path


def run_tool(*args: str | Path, cwd: Path | None = None) -> str:
    """Run a checker; its output, after asserting that it succeeded."""
    result = subprocess.run(
        list(map(str, args)), capture_output=True, text=True, timeout=120, check=False, cwd=cwd
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(map(str, args))} failed:\n{output}"
    return output


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """A systemd unit as section -> key -> values (a key may repeat)."""
    sections: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        sections[section][key.strip()].append(value.strip())
    return sections


def assert_leeway_accepts(args: list[str], where: str) -> None:
    """`leeway ARGS` parses: every option named in the kit exists in the command line."""
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            build_parser().parse_args(args)
    except SystemExit:
        pytest.fail(f"{where}: `leeway {' '.join(args)}` is refused:\n{errors.getvalue()}")


def option_value(args: list[str], option: str) -> str:
    """The value following `option` in an argument list."""
    assert option in args, f"{option} missing from {args}"
    return args[args.index(option) + 1]


def trusted_headers(text: str) -> set[str]:
    return set(TRUSTED_HEADER.findall(text))
