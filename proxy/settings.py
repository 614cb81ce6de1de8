"""Leeway's settings: one definition of each, for `LEEWAY_<NAME>` and the command line.

A field of `Settings` is a setting: name, default, constraints and description, once. Its
variable (`LEEWAY_` + the upper-case name) comes free; a field annotated with a `Flag` gets
an option too, `--` + the name with dashes, whose help (description and default, from the
field) `proxy.commands.flags` generates; a bool defaulting to true becomes `--no-<name>`.
Configuration objects are derived with `Settings.fields_of(Config, **derived)`: each field
is the setting of its name unless derived by the caller (`RunConfig.from_settings`).

A group for another command (e.g. `training sync`'s `LEEWAY_LRS_*`): a group constant
beside `RUN`, fields annotated `Annotated[str, Flag(TRAINING_SYNC, "URL")]`, and
`add_setting_flags(parser, settings_in(TRAINING_SYNC))` in the command's `register`.
Parsing that fails after validation raises `SettingError.of(name, why)` (flag + variable).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, fields
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from policy.destinations import DEFAULT_CONNECT_PORTS, DEFAULT_HTTP_PORTS, host_name
from policy.durations import parse_duration
from proxy.setting_defaults import default_audit_journal, login_name

if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping

    from pydantic.fields import FieldInfo

DEFAULT_DB_URL = "sqlite:///leeway.db"
DEFAULT_CONFDIR = Path("~/.mitmproxy")
ENV_PREFIX = "LEEWAY_"

COMMON = "common"  # taken by many commands: `proxy.commands.options` picks them by name
RUN = "run"  # `leeway run`


@dataclass(frozen=True, slots=True)
class Flag:
    """A setting's option: its command group, the value's placeholder (none: a switch), and
    the default to show when it is worked out at start rather than written in the field."""

    group: str
    metavar: str | None = None
    shown_default: str | None = None
    option: str | None = None  # when it is not `--` + the field's name (`--lrs` for `url`)


def flag_name(name: str, model: type[BaseSettings] | None = None) -> str:
    flag = flag_of(model.model_fields[name]) if model is not None else None
    return flag.option if flag is not None and flag.option else "--" + name.replace("_", "-")


def variable_name(name: str, model: type[BaseSettings] | None = None) -> str:
    prefix = ENV_PREFIX if model is None else str(model.model_config.get("env_prefix", ""))
    return prefix + name.upper()


def flag_of(field: FieldInfo) -> Flag | None:
    return next((part for part in field.metadata if isinstance(part, Flag)), None)


def settings_in(group: str) -> list[str]:
    """The names of the settings of a command group, in the order they are defined."""
    every = Settings.model_fields.items()
    return [name for name, f in every if (flag := flag_of(f)) is not None and flag.group == group]


class SettingError(ValueError):
    """A setting's value is refused: the message names its flag and its variable."""

    @classmethod
    def of(cls, name: str, why: object, model: type[BaseSettings] | None = None) -> SettingError:
        """`--name (LEEWAY_NAME): why`, for a field of `Settings` or of `model`."""
        return cls(f"{flag_name(name, model)} ({variable_name(name, model)}): {why}")


class Settings(BaseSettings):
    """Every setting, from the environment unless the command line gives it."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    db_url: Annotated[str, Flag(COMMON, "URL")] = Field(
        default=DEFAULT_DB_URL, description="SQLAlchemy URL of the store (SQLite or PostgreSQL)."
    )
    policy: Annotated[Path | None, Flag(COMMON, "FILE", "the bundled policy")] = Field(
        default=None, description="Policy file."
    )
    operator: Annotated[str, Flag(COMMON, "NAME", "the login name")] = Field(
        default_factory=login_name,
        min_length=1,
        max_length=255,
        description="Who is making the change, recorded as who granted or revoked a role.",
    )

    listen_host: Annotated[str, Flag(RUN, "H")] = Field(
        default="127.0.0.1", description="Address the proxy listens on."
    )
    listen_port: Annotated[int, Flag(RUN, "P")] = Field(
        default=8080, ge=1, le=65535, description="Port the proxy listens on."
    )
    workers: Annotated[int, Flag(RUN, "N")] = Field(
        default=1,
        ge=1,
        le=256,
        description="Proxy processes sharing the port, one core each (more than 1: supervised).",
    )
    confdir: Annotated[Path, Flag(RUN, "DIR")] = Field(
        default=DEFAULT_CONFDIR, description="mitmproxy's directory for the CA and its key."
    )
    proxyauth: Annotated[str | None, Flag(RUN, "SPEC")] = Field(
        default=None, description="Proxy authentication, mitmproxy's syntax: @htpasswd or ldap:..."
    )
    auth_timeout: Annotated[float, Flag(RUN, "SECONDS")] = Field(
        default=5.0, gt=0, le=300, description="Seconds a sign-in check may take (then: 407)."
    )
    auth_ca_file: Annotated[Path | None, Flag(RUN, "FILE", "the system's CAs")] = Field(
        default=None, description="CA certificates (PEM) that sign the ldaps:// directory's."
    )
    trusted_header: Annotated[str | None, Flag(RUN, "NAME")] = Field(
        default=None,
        description="Header naming the user, set by an upstream authenticating proxy "
        "(needs --trusted-peers).",
    )
    trusted_peers: Annotated[str | None, Flag(RUN, "CIDR,...")] = Field(
        default=None, description="Comma-separated CIDRs whose trusted header is believed."
    )
    intercept: Annotated[bool, Flag(RUN)] = Field(
        default=True,
        description="Decrypt categorised TLS connections; --no-intercept never does, and "
        "decides at CONNECT (clients without the CA).",
    )
    warn_without_intercept: Annotated[Literal["block", "allow"], Flag(RUN, "block|allow")] = Field(
        default="block", description="What a warn becomes when TLS is not intercepted."
    )
    templates: Annotated[Path | None, Flag(RUN, "DIR", "the bundled pages")] = Field(
        default=None,
        description="Directory of page templates that replace the bundled ones of the same name.",
    )
    cache_ttl: Annotated[float, Flag(RUN, "SECONDS")] = Field(
        default=5.0, gt=0, description="Seconds a user's entitlements are cached by the proxy."
    )
    cache_max_stale: Annotated[float, Flag(RUN, "SECONDS")] = Field(
        default=300.0,
        ge=0,
        description="Seconds cached entitlements still serve while the store is down.",
    )
    allow_destinations: Annotated[str | None, Flag(RUN, "CIDR,...")] = Field(
        default=None,
        description="Comma-separated CIDRs forwarded to although on this host or link-local.",
    )
    connect_ports: Annotated[str, Flag(RUN, "PORTS")] = Field(
        default=DEFAULT_CONNECT_PORTS, description="Ports CONNECT may reach (443,8443,...)."
    )
    http_ports: Annotated[str, Flag(RUN, "PORTS")] = Field(
        default=DEFAULT_HTTP_PORTS, description="Ports plain HTTP may reach (ranges: 1025-65535)."
    )
    portal_host: Annotated[str, Flag(RUN, "NAME"), AfterValidator(host_name)] = Field(
        default="leeway.internal", description="Host name of the proxy's own access page."
    )
    metrics_host: Annotated[str, Flag(RUN, "H")] = Field(
        default="127.0.0.1", description="Address the Prometheus /metrics endpoint listens on."
    )
    metrics_port: Annotated[int, Flag(RUN, "P")] = Field(
        default=9464, ge=0, le=65535, description="Port of /metrics (0: no metrics endpoint)."
    )
    metrics_departments: Annotated[bool, Flag(RUN)] = Field(
        default=False, description="Label decisions by department (groups under k fold)."
    )
    min_group: Annotated[int, Flag(RUN, "K")] = Field(
        default=5, ge=1, description="k: departments with fewer users fold into 'other'."
    )
    instance: Annotated[str, Flag(RUN, "NAME", "this host's name")] = Field(
        default_factory=socket.gethostname,
        min_length=1,
        max_length=100,
        description="This proxy's name in audit events.",
    )
    audit_journal: Annotated[
        Path, Flag(RUN, "FILE", "beside a SQLite database, else in the confdir")
    ] = Field(
        default=Path("leeway-audit.journal"),  # only a fallback: see _journal_beside_the_store
        description="Local file where audit events wait while the store is down.",
    )
    audit_retention: Annotated[timedelta | None, Flag(RUN, "DURATION")] = Field(
        default=timedelta(days=90),
        description="Audit events older than this are pruned daily (none: kept).",
    )
    audit_pseudonymise_after: Annotated[timedelta | None, Flag(RUN, "DURATION")] = Field(
        default=None, description="Usernames in older audit events become keyed hashes."
    )

    @model_validator(mode="before")
    @classmethod
    def _journal_beside_the_store(cls, data: Any) -> Any:
        """No journal named: it goes with the database, not in the working directory."""
        if isinstance(data, dict) and not data.get("audit_journal"):
            db_url = str(data.get("db_url") or DEFAULT_DB_URL)
            confdir = Path(data.get("confdir") or DEFAULT_CONFDIR)
            data = {**data, "audit_journal": default_audit_journal(db_url, confdir)}
        return data

    @field_validator("audit_retention", "audit_pseudonymise_after", mode="before")
    @classmethod
    def _duration(cls, value: object) -> timedelta | None:
        """Durations as the policy file writes them (`90d`); `none` or empty: switched off."""
        if value is None or isinstance(value, timedelta):
            return value
        if isinstance(value, str) and value.strip().lower() in {"", "none", "off"}:
            return None
        return parse_duration(value)

    @classmethod
    def with_overrides(cls, overrides: Mapping[str, object]) -> Settings:
        """Settings from the environment, with `overrides` on top (`None`: not given)."""
        given: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
        return cls(**given)

    @classmethod
    def from_arguments(cls, args: argparse.Namespace) -> Settings:
        """Settings with the options parsed from the command line on top: an option whose
        dest is a setting's name overrides it, so a new setting needs no wiring."""
        return cls.with_overrides({name: getattr(args, name, None) for name in cls.model_fields})

    def fields_of(self, config: type[Any], **derived: object) -> dict[str, Any]:
        """The arguments of the dataclass `config`: each field the setting of its name,
        unless it is `derived` (parsed or combined from settings by the caller)."""
        return {
            field.name: derived[field.name] if field.name in derived else getattr(self, field.name)
            for field in fields(config)
        }
