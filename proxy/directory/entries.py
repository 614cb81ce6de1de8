"""Directory entries as people: which attribute holds which field, and what is acceptable.

Defaults are OpenLDAP's (`uid`, `cn`, `ou`, `mail`); Active Directory is `--attribute
username=sAMAccountName` (its `cn` and `mail` match, its department is `department`). An
Active Directory account with the ACCOUNTDISABLE bit of `userAccountControl` counts as not
found. Values the store would refuse are dropped with a note: a bad username drops the
person, a bad department or e-mail address only that field.
"""

from __future__ import annotations

import re
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
    return sorted({*mapping.values(), ACCOUNT_CONTROL, MEMBER_OF}, key=str.lower)


@dataclass(frozen=True, slots=True)
class DirectoryPerson:
    """One person as found in the directory (`member_of`: DNs from the entry's memberOf)."""

    dn: str
    username: str
    display_name: str | None
    department: str | None
    email: str | None
    member_of: tuple[str, ...] = ()


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
    person = DirectoryPerson(dn, username, display_name, department, email, member_of)
    return person, dropped


def _disabled(control: list[str] | None) -> bool:
    if not control:
        return False
    try:
        return bool(int(control[0]) & ACCOUNT_DISABLED)
    except ValueError:
        return False
