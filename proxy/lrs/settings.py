"""`leeway training sync`'s settings: options over `LEEWAY_LRS_<NAME>` environment variables.

The password comes from a file (`--lrs-password-file`, `LEEWAY_LRS_PASSWORD_FILE`) or from
`LEEWAY_LRS_PASSWORD`: never from the command line, where `ps` would show it.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from policy.durations import parse_duration
from proxy.lrs.client import PAGE_LIMIT

if TYPE_CHECKING:
    from collections.abc import Mapping


class LrsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEEWAY_LRS_", extra="ignore", frozen=True)

    url: str = Field(min_length=1, pattern=r"^https?://\S+$", description="xAPI endpoint.")
    user: str | None = Field(default=None, description="HTTP Basic user name.")
    password: SecretStr | None = Field(default=None, description="HTTP Basic password.")
    password_file: Path | None = Field(default=None, description="File holding the password.")
    account_home_page: str | None = Field(
        default=None, description="Actors' account.homePage whose account.name is a username."
    )
    every: timedelta = Field(default=timedelta(seconds=30), description="--follow period.")
    page_size: int = Field(default=PAGE_LIMIT, ge=1, le=100_000, description="`limit` asked.")
    metrics_host: str = Field(
        default="127.0.0.1", description="Address of the follower's /metrics."
    )
    metrics_port: int = Field(default=0, ge=0, le=65535, description="0: no /metrics.")

    @field_validator("every", mode="before")
    @classmethod
    def _duration(cls, value: object) -> timedelta:
        if isinstance(value, timedelta):
            return value
        span = parse_duration(value)
        if span <= timedelta(0):
            raise ValueError("must be longer than zero")
        return span

    @classmethod
    def with_overrides(cls, overrides: Mapping[str, object]) -> LrsSettings:
        given: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
        return cls(**given)

    def read_password(self) -> str | None:
        """The password from the file (its first line), else from the environment."""
        if self.password_file is not None:
            try:
                text = self.password_file.read_text(encoding="utf-8")
            except OSError as e:
                raise ValueError(
                    f"cannot read the LRS password file {self.password_file}: {e.strerror}"
                ) from None
            lines = text.splitlines()
            return lines[0] if lines else ""
        return self.password.get_secret_value() if self.password is not None else None
