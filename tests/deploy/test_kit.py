"""The deployment kit: the systemd unit, the container image, the Squid example and the runbook.

Each is checked by its own tool where the machine has it (`systemd-analyze`, `squid`), and by
reading it for what the issue asks and for files that exist.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from typing import TYPE_CHECKING, Any

from proxy.settings import Settings
from tests.deploy.conftest import load_yaml
from tests.deploy.kit_support import (
    ALL_INTERFACES,
    CONTAINERFILE,
    DEPLOY,
    ENV_FILE,
    README,
    ROOT,
    SQUID,
    UNIT,
    assert_leeway_accepts,
    option_value,
    parse_unit,
    require_tool,
    run_tool,
    trusted_headers,
)

if TYPE_CHECKING:
    from pathlib import Path

UNIT_SETTINGS = {
    "Type": "simple",
    "User": "leeway",
    "EnvironmentFile": "/etc/leeway/leeway.env",
    "Restart": "on-failure",
    "LimitNOFILE": "65536",
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ReadWritePaths": "/var/lib/leeway",
    "StateDirectory": "leeway",
    "PrivateTmp": "yes",
    "ProtectHome": "yes",
    "UMask": "0077",
    "ExecReload": "/bin/kill -HUP $MAINPID",
    "KillSignal": "SIGTERM",
    "TimeoutStopSec": "10",
}
ENV_LINE = re.compile(r"^#?(LEEWAY_[A-Z_]+)=", re.MULTILINE)


def exec_start() -> list[str]:
    (line,) = parse_unit(UNIT.read_text())["Service"]["ExecStart"]
    return shlex.split(line)


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    tool = require_tool("systemd-analyze", "systemd")
    # verify needs ExecStart's program to exist: /bin/true stands in for the installed leeway.
    program = exec_start()[0]
    unit = tmp_path / "leeway.service"
    unit.write_text(UNIT.read_text().replace(f"ExecStart={program} ", "ExecStart=/bin/true "))
    output = run_tool(tool, "verify", "--man=no", unit)
    complaints = [line for line in output.splitlines() if "leeway.service" in line]
    assert complaints == [], "\n".join(complaints)


def test_the_unit_restarts_hardens_and_keeps_the_ca_key_private() -> None:
    service = parse_unit(UNIT.read_text())["Service"]
    assert {key: service[key] for key in UNIT_SETTINGS} == {
        key: [value] for key, value in UNIT_SETTINGS.items()
    }
    assert exec_start()[:2] == ["/opt/leeway/venv/bin/leeway", "run"]
    confdir = option_value(exec_start(), "--confdir")
    assert confdir.startswith("/var/lib/leeway/"), "the CA must live in the state directory"


def test_the_unit_runs_leeway_with_options_it_has() -> None:
    args = exec_start()[1:]
    assert_leeway_accepts(args, str(UNIT))
    assert option_value(args, "--listen-host") == ALL_INTERFACES


def test_the_env_file_names_only_real_settings() -> None:
    names = ENV_LINE.findall(ENV_FILE.read_text())
    fields = {f"LEEWAY_{name.upper()}" for name in Settings.model_fields}
    assert names, "leeway.env sets nothing"
    unknown = sorted(set(names) - fields)
    assert unknown == [], f"leeway.env: {unknown} are not Leeway settings (proxy/settings.py)"


def containerfile_instructions() -> list[tuple[str, str]]:
    text = CONTAINERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_the_containerfile_copies_what_the_package_is_built_from() -> None:
    instructions = containerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.12-slim")
    copied = [
        source
        for kind, arguments in instructions
        if kind == "COPY"
        for source in arguments.split()[:-1]
    ]
    assert copied, "nothing copied"
    for source in copied:
        assert (ROOT / source).exists(), f"Containerfile copies {source}, which does not exist"
    pyproject = load_toml(ROOT / "pyproject.toml")
    packages = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    wanted = {"pyproject.toml", pyproject["project"]["readme"]}
    wanted |= {pattern.rstrip("*") for pattern in packages}
    assert wanted <= set(copied), f"the image cannot build the package without {wanted}"


def test_the_containerfile_runs_as_a_user_and_exposes_the_ports() -> None:
    instructions = dict(containerfile_instructions())
    assert instructions["USER"] not in {"root", "0"}
    assert set(instructions["EXPOSE"].split()) == {"8080", "9464"}
    assert Settings.model_fields["listen_port"].default == 8080
    assert "HEALTHCHECK" in instructions


def test_squid_accepts_its_configuration() -> None:
    tool = require_tool("squid", "squid")
    output = run_tool(tool, "-k", "parse", "-f", SQUID)
    problems = [
        line
        for line in output.splitlines()
        if re.search(r"WARNING|ERROR|FATAL|unrecognized|Bungled", line, re.IGNORECASE)
    ]
    assert problems == [], "\n".join(problems)


def squid_directives() -> list[list[str]]:
    lines = (line.strip() for line in SQUID.read_text().splitlines())
    return [shlex.split(line) for line in lines if line and not line.startswith("#")]


def test_squid_passes_the_header_that_leeway_is_told_to_trust() -> None:
    directives = squid_directives()
    added = {d[1] for d in directives if d[0] == "request_header_add" and d[2] == "%ul"}
    stripped = {
        d[1] for d in directives if d[0] == "request_header_access" and d[2:] == ["deny", "all"]
    }
    assert len(added) == 1, "Squid must add exactly one user header"
    assert stripped == added, "Squid must remove the client's copy of the header it adds"
    env = re.findall(r"LEEWAY_TRUSTED_HEADER=(\S+)", ENV_FILE.read_text())
    told = trusted_headers(SQUID.read_text()) | trusted_headers(README.read_text()) | set(env)
    assert told == added, "squid.conf, leeway.env and README.md disagree on the header"


def test_squid_sends_everything_to_leeway_and_caches_nothing() -> None:
    directives = squid_directives()
    assert ["never_direct", "allow", "all"] in directives
    assert ["cache", "deny", "all"] in directives
    peers = [d for d in directives if d[0] == "cache_peer"]
    assert peers, "no cache_peer: Squid would not forward to Leeway"
    for peer in peers:
        assert peer[2:4] == ["parent", str(Settings.model_fields["listen_port"].default)]
        assert not any(option.startswith("login=") for option in peer), "credentials leak"
    for line in re.findall(r"^#\s+(leeway run .*)$", SQUID.read_text(), re.MULTILINE):
        assert_leeway_accepts(shlex.split(line)[1:], str(SQUID))


def test_the_readme_names_files_that_exist() -> None:
    text = README.read_text()
    first_column = re.findall(r"^\| `([^`]+)`", text, re.MULTILINE)
    named = {item for item in first_column if "/" in item or "." in item}  # not metric names
    named |= set(re.findall(r"`((?:systemd|container|squid|grafana|prometheus)/[\w./-]+)`", text))
    assert len(named) >= 8
    for path in named:
        assert (DEPLOY / path).exists(), f"deploy/README.md names {path}, which does not exist"


def test_the_readme_explains_every_alert() -> None:
    rules = load_yaml(DEPLOY / "prometheus" / "alerts.yml")
    alerts = [r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r]
    text = README.read_text()
    missing = [name for name in alerts if f"**{name}**" not in text]
    assert alerts and missing == [], f"no paragraph in deploy/README.md for {missing}"


def test_the_runbook_covers_the_operations() -> None:
    text = README.read_text()
    for needed in (
        "Trusted Root Certification Authorities",
        "com.apple.security.root",
        '"Certificates"',
        "## Rotate the CA",
        "## Add an instance",
        "pg_dump",
        "pg_restore",
        ".backup",
    ):
        assert needed in text, f"deploy/README.md does not cover {needed!r}"


def load_toml(path: Path) -> dict[str, Any]:
    with path.open("rb") as file:
        return tomllib.load(file)
