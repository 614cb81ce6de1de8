"""`leeway users sync`'s settings: options over `LEEWAY_LDAP_<NAME>` environment variables.

The bind password comes from a file (`--bind-password-file`, `LEEWAY_LDAP_BIND_PASSWORD_FILE`)
or from `LEEWAY_LDAP_BIND_PASSWORD`: never from the command line, where `ps` would show it.
In a variable, several `--attribute` values are separated by `;` or `,`, several
`--group-role` values by `;` or a newline (a DN holds commas).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

if TYPE_CHECKING:
    from collections.abc import Mapping

DEFAULT_FILTER = "(objectClass=person)"  # OpenLDAP's inetOrgPerson and AD's user are both


def _split(value: object, separators: str) -> object:
    if isinstance(value, str):
        return [part.strip() for part in re.split(f"[{separators}]", value) if part.strip()]
    return value


class LdapSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEEWAY_LDAP_", extra="ignore", frozen=True)

    url: str = Field(
        min_length=1, pattern=r"^ldaps?://\S+$", description="ldap://host[:port] or ldaps://..."
    )
    bind_dn: str = Field(min_length=1, description="The service account's DN.")
    bind_password: SecretStr | None = Field(default=None, description="Its password.")
    bind_password_file: Path | None = Field(default=None, description="File holding it.")
    base: str = Field(min_length=1, description="Where the people are searched.")
    filter: str = Field(default=DEFAULT_FILTER, pattern=r"^\(.*\)$", description="Who is one.")
    attribute: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="FIELD=ATTR: where a user's field is read from."
    )
    group_role: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="GROUP_DN=ROLE: members get the role."
    )
    ca_file: Path | None = Field(default=None, description="CA certificates for ldaps://.")
    timeout: float = Field(default=30.0, gt=0, le=3600, description="Seconds per operation.")
    page_size: int = Field(default=500, ge=1, le=100_000, description="Entries per page.")

    @field_validator("attribute", mode="before")
    @classmethod
    def _attributes(cls, value: object) -> object:
        return _split(value, ";,\n")

    @field_validator("group_role", mode="before")
    @classmethod
    def _group_roles(cls, value: object) -> object:
        return _split(value, ";\n")

    @classmethod
    def with_overrides(cls, overrides: Mapping[str, object]) -> LdapSettings:
        given: dict[str, Any] = {k: v for k, v in overrides.items() if v not in (None, [])}
        return cls(**given)

    def read_password(self) -> str:
        """The password from the file (its first line), else from the environment."""
        if self.bind_password_file is not None:
            try:
                text = self.bind_password_file.read_text(encoding="utf-8")
            except OSError as e:
                raise ValueError(
                    f"cannot read the bind password file {self.bind_password_file}: {e.strerror}"
                ) from None
            lines = text.splitlines()
            return lines[0] if lines else ""
        if self.bind_password is None:
            raise ValueError(
                "no bind password: give --bind-password-file F (LEEWAY_LDAP_BIND_PASSWORD_FILE)"
                " or set LEEWAY_LDAP_BIND_PASSWORD"
            )
        return self.bind_password.get_secret_value()
