"""`leeway run`'s options: one per setting of the run group, generated from its field.

The parser is the real one (`proxy.cli.build_parser`); what an option reaches is shown by
the `RunConfig` built from the parsed settings, as `leeway run` builds it.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from proxy.cli import build_parser, main
from proxy.runtime.startup import RunConfig
from proxy.settings import RUN, SettingError, Settings, flag_of, settings_in

if TYPE_CHECKING:
    from pydantic.fields import FieldInfo

SHARED = ("db_url", "policy")  # taken by every command that reads the store and the policy
NOT_SETTINGS = {"help", "mitm_options"}  # -h, and --set's mitmproxy options

# A value unlike the default for each run setting, as a variable spells it; the flag takes
# the same text. A setting added to the run group without a sample here fails the test.
SAMPLES = {
    "listen_host": "127.0.0.9",
    "listen_port": "8181",
    "workers": "3",
    "confdir": "/srv/leeway/ca",
    "proxyauth": "@/etc/leeway/htpasswd",
    "auth_timeout": "2.5",
    "auth_ca_file": "/etc/ssl/certs/ca-certificates.crt",
    "trusted_header": "X-Remote-User",
    "trusted_peers": "10.0.0.0/8,fd00::/8",
    "warn_without_intercept": "allow",
    "templates": "/etc/leeway/templates",
    "cache_ttl": "7.5",
    "cache_max_stale": "60",
    "allow_destinations": "192.168.0.0/16",
    "connect_ports": "443,8443",
    "http_ports": "80,8000-8999",
    "portal_host": "access.office.example",
    "metrics_host": "127.0.0.8",
    "metrics_port": "0",
    "min_group": "9",
    "instance": "proxy-7",
    "audit_journal": "/var/spool/leeway/audit.journal",
    "audit_retention": "30d",
    "audit_pseudonymise_after": "7d",
}
SWITCHES = {"intercept": ("false", "--no-intercept"), "metrics_departments": ("true", None)}
# Refused alone; the ldaps spec's password is no secret: nothing is ever asked with it.
LDAPS = "ldaps:dc1.corp.example.org:636:cn=svc:unused:dc=corp,dc=example,dc=org"
NEEDED = {
    "trusted_header": {"LEEWAY_TRUSTED_PEERS": "10.0.0.0/8"},
    "auth_ca_file": {"LEEWAY_PROXYAUTH": LDAPS},
}


def run_parser() -> argparse.ArgumentParser:
    commands = next(
        action
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    parser: argparse.ArgumentParser = commands.choices["run"]
    return parser


def run_config(*argv: str) -> RunConfig:
    args = build_parser().parse_args(["run", *argv])
    return RunConfig.from_settings(Settings.from_arguments(args), args.mitm_options)


def test_every_run_setting_has_exactly_one_option() -> None:
    dests = [action.dest for action in run_parser()._actions]
    assert sorted(set(dests) - NOT_SETTINGS) == sorted([*SHARED, *settings_in(RUN)])
    assert {dest: dests.count(dest) for dest in dests if dests.count(dest) != 1} == {}


def test_every_setting_is_an_option_of_a_command_group() -> None:
    assert [name for name, field in Settings.model_fields.items() if flag_of(field) is None] == []


@pytest.mark.parametrize("name", [*SHARED, *settings_in(RUN)])
def test_each_option_names_its_variable_and_shows_its_default_once(name: str) -> None:
    (action,) = [action for action in run_parser()._actions if action.dest == name]
    assert action.help is not None
    assert action.help.count("default:") == 1
    assert action.help.endswith(f"; env LEEWAY_{name.upper()})")


def written_default(field: FieldInfo) -> str | None:
    """The default as written in the field, for those shown as they are."""
    value = field.default
    if value is None or isinstance(value, bool | timedelta) or field.default_factory:
        return None
    return str(value)


def test_the_help_shows_each_default_from_its_field(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--help"]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    for name in [*SHARED, *settings_in(RUN)]:
        default = written_default(Settings.model_fields[name])
        if default is not None and name != "audit_journal":  # worked out beside the store
            assert f"(default: {default}; env LEEWAY_{name.upper()})" in shown
    assert "(default: 90d; env LEEWAY_AUDIT_RETENTION)" in shown
    assert "(default: on; env LEEWAY_INTERCEPT)" in shown
    assert "(default: this host's name; env LEEWAY_INSTANCE)" in shown


def test_a_changed_default_changes_the_help(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(Settings.model_fields["listen_port"], "default", 8181)
    assert main(["run", "--help"]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "(default: 8181; env LEEWAY_LISTEN_PORT)" in shown
    assert "8080" not in shown


@pytest.mark.parametrize("name", settings_in(RUN))
def test_a_variable_and_its_option_reach_the_same_run_config(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable, value in NEEDED.get(name, {}).items():
        monkeypatch.setenv(variable, value)
    default = run_config()
    if name in SWITCHES:
        text, flag = SWITCHES[name]
        argv = [flag or "--" + name.replace("_", "-")]
    else:
        text = SAMPLES[name]
        argv = ["--" + name.replace("_", "-"), text]
    from_option = run_config(*argv)
    monkeypatch.setenv(f"LEEWAY_{name.upper()}", text)
    assert run_config() == from_option != default


def test_the_option_wins_over_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEEWAY_LISTEN_PORT", "8181")
    assert run_config("--listen-port", "8282").listen_port == 8282


def test_the_run_config_takes_the_defaults_of_the_settings() -> None:
    config = run_config()
    assert (config.listen_port, config.workers, config.cache_max_stale) == (8080, 1, 300.0)
    assert config.confdir == Path("~/.mitmproxy").expanduser()
    assert config.observability.audit_retention == timedelta(days=90)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["--trusted-peers", "10.0.0.0/8,office"],
            "--trusted-peers (LEEWAY_TRUSTED_PEERS): networks: 'office' is not a CIDR such as"
            " 10.0.0.0/8",
        ),
        (["--trusted-header", "X-User"], "--trusted-header needs --trusted-peers"),
    ],
)
def test_a_bad_run_setting_is_refused_naming_its_option(argv: list[str], expected: str) -> None:
    with pytest.raises(SettingError) as refused:
        run_config(*argv)
    assert str(refused.value).startswith(expected)


def test_a_bad_number_is_a_usage_error_naming_the_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "--listen-port", "http"]) == 2
    assert "argument --listen-port: invalid int value: 'http'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("spec", "ca_file", "expected"),
    [
        (LDAPS, "/no/such/ca.pem", "/no/such/ca.pem: cannot read it: No such file or directory"),
        (LDAPS, __file__, f"{__file__}: no CA certificate in it (NO_CERTIFICATE_OR_CRL_FOUND)"),
        ("@/etc/leeway/htpasswd", "/etc/ssl/certs/ca-certificates.crt", "only --proxyauth ldaps:"),
    ],
    ids=["missing", "not PEM", "not ldaps"],
)
def test_an_unusable_auth_ca_file_stops_leeway_run_at_start(
    spec: str,
    ca_file: str,
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LEEWAY_PROXYAUTH", spec)  # the spec holds a password: never in argv
    monkeypatch.setenv("LEEWAY_AUTH_CA_FILE", ca_file)
    assert main(["run"]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"--auth-ca-file (LEEWAY_AUTH_CA_FILE): {expected}"), error
    assert "unused" not in error
