"""`leeway training sync`'s settings: options over `LEEWAY_LRS_<NAME>` environment variables.

Each field with a `Flag` is an option whose help `proxy.commands.flags` writes from the
field. The password comes from a file (`--lrs-password-file`, `LEEWAY_LRS_PASSWORD_FILE`)
or from `LEEWAY_LRS_PASSWORD`: never from the command line, where `ps` would show it.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from policy.durations import parse_duration
from proxy.lrs.client import PAGE_LIMIT
from proxy.passwords import read_password
from proxy.settings import Flag

TRAINING_SYNC = "training sync"


class LrsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEEWAY_LRS_", extra="ignore", frozen=True)

    url: Annotated[str, Flag(TRAINING_SYNC, "URL", option="--lrs")] = Field(
        min_length=1,
        pattern=r"^https?://\S+$",
        description="The LRS's xAPI endpoint, e.g. https://lrs.example.org/xAPI.",
    )
    user: Annotated[str | None, Flag(TRAINING_SYNC, "U", option="--lrs-user")] = Field(
        default=None, description="HTTP Basic user name."
    )
    password: SecretStr | None = Field(default=None, description="HTTP Basic password.")
    password_file: Annotated[
        Path | None, Flag(TRAINING_SYNC, "F", option="--lrs-password-file")
    ] = Field(default=None, description="File whose first line is the password.")
    account_home_page: Annotated[str | None, Flag(TRAINING_SYNC, "URL")] = Field(
        default=None, description="Actors' account.homePage whose account.name is a username."
    )
    authority: Annotated[
        list[str], NoDecode, Flag(TRAINING_SYNC, "AGENT", "any", option="--lrs-authority")
    ] = Field(
        default_factory=list,
        description="Only statements this agent vouches for count (the statement's"
        " authority: mailto:ADDRESS or account:NAME@HOMEPAGE; repeat it for more).",
    )
    every: Annotated[timedelta, Flag(TRAINING_SYNC, "DURATION")] = Field(
        default=timedelta(seconds=30), description="With --follow: how often the LRS is read."
    )
    page_size: Annotated[int, Flag(TRAINING_SYNC, "N")] = Field(
        default=PAGE_LIMIT, ge=1, le=100_000, description="Statements asked for per page."
    )
    metrics_host: Annotated[str, Flag(TRAINING_SYNC, "ADDR")] = Field(
        default="127.0.0.1", description="With --follow: address of its /metrics."
    )
    metrics_port: Annotated[int, Flag(TRAINING_SYNC, "PORT")] = Field(
        default=0, ge=0, le=65535, description="With --follow: port of its /metrics (0: none)."
    )

    @field_validator("authority", mode="before")
    @classmethod
    def _authorities(cls, value: object) -> object:
        if isinstance(value, str):  # one variable: separated by `;`, `,` or spaces
            return [part for part in re.split(r"[;,\s]+", value) if part]
        return value

    @field_validator("authority")
    @classmethod
    def _agents(cls, value: list[str]) -> list[str]:
        for agent in value:
            if not re.fullmatch(r"(mailto:[^@\s]+@[^@\s]+|account:[^@\s]+@\S+)", agent):
                raise ValueError(f"{agent!r}: expected mailto:ADDRESS or account:NAME@HOMEPAGE")
        return [a.lower() if a.startswith("mailto:") else a for a in value]

    @field_validator("every", mode="before")
    @classmethod
    def _duration(cls, value: object) -> timedelta:
        if isinstance(value, timedelta):
            return value
        span = parse_duration(value)
        if span <= timedelta(0):
            raise ValueError("must be longer than zero")
        return span

    def read_password(self) -> str | None:
        """The password from the file (its first line), else from the environment."""
        return read_password(self.password_file, self.password, "LRS password")
