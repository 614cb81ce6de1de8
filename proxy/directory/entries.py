"""Directory entries as people: which attribute holds which field, and what is acceptable.

Defaults are OpenLDAP's (`uid`, `cn`, `ou`, `mail`); Active Directory is `--attribute
username=sAMAccountName` (its `cn` and `mail` match, its department is `department`). An
Active Directory account with the ACCOUNTDISABLE bit of `userAccountControl` counts as not
found. Values the store would refuse are dropped with a note: a bad username drops the
person, a bad department or e-mail address only that field.

Each entry's permanent identifier is read too, so that a person renamed (a new DN and a new
username: `modrdn` in OpenLDAP, a renamed account in AD) stays the same user, history and
all: `objectGUID` (AD, 16 bytes, read in its usual text form), `entryUUID` (RFC 4530:
OpenLDAP, 389-ds) or `nsUniqueId` (389-ds, FreeIPA), the first of them the entry has.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from proxy.csvimport.rows import (
    MAX_DISPLAY_NAME,
    check_department,
    check_email,
    check_username,
)

FIELDS = ("username", "display_name", "department", "email")
DEFAULT_ATTRIBUTES = {"username": "uid", "display_name": "cn", "department": "ou", "email": "mail"}
ACCOUNT_CONTROL = "userAccountControl"
ACCOUNT_DISABLED = 0x2
MEMBER_OF = "memberOf"
OBJECT_GUID = "objectGUID"
IDENTIFIERS = (OBJECT_GUID, "entryUUID", "nsUniqueId")  # operational: read only when asked
_ATTRIBUTE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)+)$")

type Attributes = dict[str, list[str]]


class MappingError(ValueError):
    """An `--attribute` value that is not FIELD=ATTR with a known field."""


def attribute_map(given: list[str]) -> dict[str, str]:
    """field -> attribute: the defaults, with each `FIELD=ATTR` of `given` on top."""
    mapping = dict(DEFAULT_ATTRIBUTES)
    for item in given:
        field, equals, attribute = (part.strip() for part in item.partition("="))
        if not equals or not field or not attribute:
            raise MappingError(f"--attribute {item!r}: expected FIELD=ATTR, e.g. username=uid")
        if field not in FIELDS:
            raise MappingError(
                f"--attribute {item!r}: unknown field {field!r} (known: {', '.join(FIELDS)})"
            )
        if not _ATTRIBUTE.match(attribute):
            raise MappingError(f"--attribute {item!r}: {attribute!r} is not an attribute name")
        mapping[field] = attribute
    return mapping


def attributes_to_read(mapping: dict[str, str]) -> list[str]:
    return sorted({*mapping.values(), ACCOUNT_CONTROL, MEMBER_OF, *IDENTIFIERS}, key=str.lower)


def guid_text(raw: bytes) -> str | None:
    """AD's objectGUID (16 bytes, its first three fields little-endian) as AD writes it,
    or None if it is not 16 bytes."""
    return str(uuid.UUID(bytes_le=raw)) if len(raw) == 16 else None


@dataclass(frozen=True, slots=True)
class DirectoryPerson:
    """One person as found in the directory (`member_of`: DNs from the entry's memberOf)."""

    dn: str
    username: str
    display_name: str | None
    department: str | None
    email: str | None
    member_of: tuple[str, ...] = ()
    directory_id: str | None = None  # the entry's permanent identifier (IDENTIFIERS)


@dataclass(frozen=True, slots=True)
class Dropped:
    """An entry, or a field of it, that the sync could not take, and why."""

    dn: str
    reason: str


def person_of(
    dn: str, attributes: Attributes, mapping: dict[str, str]
) -> tuple[DirectoryPerson | None, list[Dropped]]:
    """The person in the entry (None: not one the store can take, or a disabled account)."""
    values = {name.lower(): found for name, found in attributes.items() if found}

    def first(field: str) -> str | None:
        found = values.get(mapping[field].lower())
        return found[0].strip() or None if found else None

    if _disabled(values.get(ACCOUNT_CONTROL.lower())):
        return None, []
    username = first("username")
    if username is None:
        return None, [Dropped(dn, f"no {mapping['username']} (the username): skipped")]
    if (why := check_username(username)) is not None:
        return None, [Dropped(dn, f"{why}: skipped")]
    dropped: list[Dropped] = []
    display_name = first("display_name")
    if display_name is not None and len(display_name) > MAX_DISPLAY_NAME:
        display_name = display_name[:MAX_DISPLAY_NAME]
    department = first("department")
    if department is not None and (why := check_department(department)) is not None:
        dropped.append(Dropped(dn, f"{why}: department left empty"))
        department = None
    email = first("email")
    email = email.lower() if email is not None else None
    if email is not None and (why := check_email(email)) is not None:
        dropped.append(Dropped(dn, f"{why}: e-mail left empty"))
        email = None
    member_of = tuple(values.get(MEMBER_OF.lower(), ()))
    person = DirectoryPerson(
        dn, username, display_name, department, email, member_of, _identifier(values)
    )
    return person, dropped


def _identifier(values: Attributes) -> str | None:
    """The first identifier the entry has, lower-case (they are UUIDs, in any case)."""
    for name in IDENTIFIERS:
        found = values.get(name.lower())
        if found and found[0].strip():
            return f"{name}:{found[0].strip().lower()}"
    return None


def _disabled(control: list[str] | None) -> bool:
    if not control:
        return False
    try:
        return bool(int(control[0]) & ACCOUNT_DISABLED)
    except ValueError:
        return False
