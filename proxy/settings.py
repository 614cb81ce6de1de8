"""Leeway's settings: command-line options over `LEEWAY_<NAME>` environment variables.

Add a setting as a field here; its variable (`LEEWAY_` + the upper-case name) comes free.
"""

from __future__ import annotations

import getpass
import socket
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from policy.destinations import DEFAULT_CONNECT_PORTS, DEFAULT_HTTP_PORTS
from policy.durations import parse_duration

if TYPE_CHECKING:
    from collections.abc import Mapping

DEFAULT_DB_URL = "sqlite:///leeway.db"
DEFAULT_CONFDIR = Path("~/.mitmproxy")


def login_name() -> str:
    """Who runs the command, for `granted_by` and `revoked_by` (`unknown` if the OS can't say)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        # No LOGNAME/USER and no passwd entry: a container started with a bare uid.
        return "unknown"


def default_audit_journal(db_url: str, confdir: Path) -> Path:
    """Where audit events wait when no journal is named: `leeway.db` -> `leeway-audit.journal`
    beside a SQLite file; for PostgreSQL (or SQLite in memory) in this proxy's confdir, which
    every instance has of its own, private and kept across restarts."""
    try:
        url = make_url(db_url)
    except ArgumentError:  # reported when the store is opened; any place will do meanwhile
        url = None
    database = url.database if url is not None and url.get_backend_name() == "sqlite" else None
    if database and database != ":memory:" and not database.startswith("file:"):
        store = Path(database)
        return store.with_name(f"{store.stem}-audit.journal")
    return confdir / "leeway-audit.journal"


class Settings(BaseSettings):
    """Every setting, from the environment unless the command line gives it."""

    model_config = SettingsConfigDict(env_prefix="LEEWAY_", extra="ignore", frozen=True)

    db_url: str = Field(
        default=DEFAULT_DB_URL, description="SQLAlchemy URL of the store (SQLite or PostgreSQL)."
    )
    policy: Path | None = Field(
        default=None, description="Policy file; none means the policy bundled with Leeway."
    )
    operator: str = Field(
        default_factory=login_name,
        min_length=1,
        max_length=255,
        description="Recorded as who granted or revoked a role.",
    )

    # `leeway run`
    listen_host: str = Field(default="127.0.0.1", description="Address the proxy listens on.")
    listen_port: int = Field(default=8080, ge=1, le=65535, description="Port the proxy listens on.")
    workers: int = Field(
        default=1,
        ge=1,
        le=256,
        description="Proxy processes sharing the port, one core each (more than 1: supervised).",
    )
    confdir: Path = Field(
        default=DEFAULT_CONFDIR, description="mitmproxy's directory for the CA and its key."
    )
    proxyauth: str | None = Field(
        default=None, description="Proxy authentication, mitmproxy's syntax: @htpasswd or ldap:..."
    )
    trusted_header: str | None = Field(
        default=None, description="Header naming the user, set by an upstream authenticating proxy."
    )
    trusted_peers: str | None = Field(
        default=None, description="Comma-separated CIDRs whose trusted header is believed."
    )
    intercept: bool = Field(
        default=True, description="Decrypt categorised TLS connections (false: decide at CONNECT)."
    )
    warn_without_intercept: Literal["block", "allow"] = Field(
        default="block", description="What a warn becomes when TLS is not intercepted."
    )
    cache_ttl: float = Field(
        default=5.0, gt=0, description="Seconds a user's entitlements are cached by the proxy."
    )
    cache_max_stale: float = Field(
        default=300.0,
        ge=0,
        description="Seconds cached entitlements still serve while the store is down.",
    )
    allow_destinations: str | None = Field(
        default=None,
        description="Comma-separated CIDRs forwarded to although on this host or link-local.",
    )
    connect_ports: str = Field(
        default=DEFAULT_CONNECT_PORTS, description="Ports CONNECT may reach (443; 443,8443,...)."
    )
    http_ports: str = Field(
        default=DEFAULT_HTTP_PORTS, description="Ports plain HTTP may reach (ranges: 1025-65535)."
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="Address the Prometheus /metrics endpoint listens on."
    )
    metrics_port: int = Field(
        default=9464, ge=0, le=65535, description="Port of /metrics (0: no metrics endpoint)."
    )
    metrics_departments: bool = Field(
        default=False, description="Label decisions by department (groups under k fold)."
    )
    min_group: int = Field(
        default=5, ge=1, description="k: departments with fewer users fold into 'other'."
    )
    instance: str = Field(
        default_factory=socket.gethostname,
        min_length=1,
        max_length=100,
        description="This proxy's name in audit events.",
    )
    audit_journal: Path = Field(
        default=Path("leeway-audit.journal"),  # only a fallback: see _journal_beside_the_store
        description="Local file where audit events wait while the store is down "
        "(default: beside a SQLite database, else in the confdir).",
    )
    audit_retention: timedelta | None = Field(
        default=timedelta(days=90),
        description="Audit events older than this are pruned daily (none: kept).",
    )
    audit_pseudonymise_after: timedelta | None = Field(
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
        """Settings from the environment, with the options given on the command line on top.

        `None` means "not given", so the environment (or the default) applies.
        """
        given: dict[str, Any] = {
            name: value for name, value in overrides.items() if value is not None
        }
        return cls(**given)
