"""`leeway users sync`'s settings: options over `LEEWAY_LDAP_<NAME>` environment variables.

The bind password comes from a file (`--bind-password-file`, `LEEWAY_LDAP_BIND_PASSWORD_FILE`)
or from `LEEWAY_LDAP_BIND_PASSWORD`: never from the command line, where `ps` would show it.
In a variable, several `--attribute` values are separated by `;` or `,`, several
`--group-role` values by `;` or a newline (a DN holds commas).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from proxy.directory.entries import DEFAULT_ATTRIBUTES
from proxy.passwords import read_password
from proxy.settings import Flag

DEFAULT_FILTER = "(objectClass=person)"  # OpenLDAP's inetOrgPerson and AD's user are both
USERS_SYNC = "users sync"
_ATTRIBUTES = " ".join(f"{field}={attribute}" for field, attribute in DEFAULT_ATTRIBUTES.items())


def _split(value: object, separators: str) -> object:
    if isinstance(value, str):
        return [part.strip() for part in re.split(f"[{separators}]", value) if part.strip()]
    return value


class LdapSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEEWAY_LDAP_", extra="ignore", frozen=True)

    url: Annotated[str, Flag(USERS_SYNC, "URL", option="--ldap")] = Field(
        min_length=1, pattern=r"^ldaps?://\S+$", description="ldap://host[:port] or ldaps://..."
    )
    bind_dn: Annotated[str, Flag(USERS_SYNC, "DN")] = Field(
        min_length=1, description="The service account that reads the directory."
    )
    bind_password: SecretStr | None = Field(default=None, description="Its password.")
    bind_password_file: Annotated[Path | None, Flag(USERS_SYNC, "F")] = Field(
        default=None, description="File whose first line is its password."
    )
    base: Annotated[str, Flag(USERS_SYNC, "DN")] = Field(
        min_length=1, description="Where people are searched (subtree)."
    )
    filter: Annotated[str, Flag(USERS_SYNC, "F")] = Field(
        default=DEFAULT_FILTER, pattern=r"^\(.*\)$", description="Who is a person."
    )
    attribute: Annotated[list[str], NoDecode, Flag(USERS_SYNC, "FIELD=ATTR", _ATTRIBUTES)] = Field(
        default_factory=list, description="Where a user's field is read from."
    )
    group_role: Annotated[list[str], NoDecode, Flag(USERS_SYNC, "GROUP_DN=ROLE", "none")] = Field(
        default_factory=list, description="Members of the group get the role."
    )
    ca_file: Annotated[Path | None, Flag(USERS_SYNC, "FILE", option="--ldap-ca-file")] = Field(
        default=None, description="CA certificates that sign the ldaps:// server's."
    )
    timeout: Annotated[float, Flag(USERS_SYNC, "SECONDS", option="--ldap-timeout")] = Field(
        default=30.0, gt=0, le=3600, description="Time limit of each operation."
    )
    page_size: Annotated[int, Flag(USERS_SYNC, "N", option="--ldap-page-size")] = Field(
        default=500, ge=1, le=100_000, description="Entries asked for per page."
    )

    @field_validator("attribute", mode="before")
    @classmethod
    def _attributes(cls, value: object) -> object:
        return _split(value, ";,\n")

    @field_validator("group_role", mode="before")
    @classmethod
    def _group_roles(cls, value: object) -> object:
        return _split(value, ";\n")

    def read_password(self) -> str:
        """The password from the file (its first line), else from the environment."""
        password = read_password(self.bind_password_file, self.bind_password, "bind password")
        if password is None:
            raise ValueError(
                "no bind password: give --bind-password-file F (LEEWAY_LDAP_BIND_PASSWORD_FILE)"
                " or set LEEWAY_LDAP_BIND_PASSWORD"
            )
        return password
