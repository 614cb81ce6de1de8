"""Leeway's settings: command-line options over `LEEWAY_<NAME>` environment variables.

Add a setting as a field here; its variable (`LEEWAY_` + the upper-case name) comes free.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from collections.abc import Mapping

DEFAULT_DB_URL = "sqlite:///leeway.db"


def login_name() -> str:
    """Who runs the command, for `granted_by` and `revoked_by` (`unknown` if the OS can't say)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        # No LOGNAME/USER and no passwd entry: a container started with a bare uid.
        return "unknown"


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

    @classmethod
    def with_overrides(cls, overrides: Mapping[str, object]) -> Settings:
        """Settings from the environment, with the options given on the command line on top.

        `None` means "not given", so the environment (or the default) applies.
        """
        given: dict[str, Any] = {
            name: value for name, value in overrides.items() if value is not None
        }
        return cls(**given)
