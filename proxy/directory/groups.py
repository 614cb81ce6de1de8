"""Group membership: who is in a group, nested groups followed, each group visited once.

A group's members are its `member` values (groupOfNames, Active Directory's group); a group
without them (or whose `member` comes in ranges, as AD sends large groups) has for members
the people whose `memberOf` names it, and the groups found by `(memberOf=GROUP)` under the
base. A member that is a group under the base is followed; one seen before (a cycle) is not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ldap3.core.exceptions import LDAPInvalidDnError
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import parse_dn

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

type Attributes = dict[str, list[str]]
GROUP_CLASSES = frozenset({"groupofnames", "groupofuniquenames", "group"})
_SPECIAL = re.compile(r'[\\"+;<>#]')  # escapes, quotes, multi-valued RDNs: parse those
_ROLE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")


def _rdn_key(rdn: str) -> str:
    kind, _, value = rdn.partition("=")
    return f"{kind.strip()}={value.strip()}"


class GroupRoleError(ValueError):
    """A `--group-role` that is not GROUP_DN=ROLE."""


def dn_key(dn: str) -> str:
    """`dn` compared as a directory does: attribute types and values without case or spaces."""
    if not _SPECIAL.search(dn):  # the common case, 100 times faster than parsing
        return ",".join(_rdn_key(rdn) for rdn in dn.lower().split(","))
    try:
        parts = parse_dn(dn, escape=False, strip=True)
    except LDAPInvalidDnError:
        return dn.strip().lower()
    return ",".join(f"{kind.lower()}={value.lower()}" for kind, value, _ in parts)


def group_role(text: str) -> tuple[str, str]:
    """(group DN, role) of `GROUP_DN=ROLE`, split at the last `=` (a DN holds `=` too)."""
    dn, equals, role = (part.strip() for part in text.rpartition("="))
    expected = "expected GROUP_DN=ROLE, e.g. 'cn=managers,ou=groups,dc=example,dc=org=manager'"
    if not equals or not dn or not _ROLE.match(role):
        raise GroupRoleError(f"--group-role {text!r}: {expected}")
    try:
        parse_dn(dn)
    except LDAPInvalidDnError as e:
        raise GroupRoleError(
            f"--group-role {text!r}: {dn!r} is not a DN ({e}); {expected}"
        ) from None
    return dn, role


class Reader(Protocol):
    def read(self, dn: str, attributes: list[str]) -> Attributes | None: ...

    def search(
        self, base: str, search_filter: str, attributes: list[str], page_size: int
    ) -> Iterator[tuple[str, Attributes]]: ...


@dataclass(slots=True)
class Groups:
    """Resolves groups against the people of one sync (`people`: dn key -> their memberOf)."""

    reader: Reader
    base: str
    page_size: int
    people: dict[str, tuple[str, ...]]
    missing: list[str] = field(default_factory=list)
    _member_of: dict[str, set[str]] | None = None
    _group_keys: set[str] | None = None

    def members(self, group: str) -> set[str]:
        """The dn keys of the people in `group` and in the groups nested in it."""
        found: set[str] = set()
        seen: set[str] = set()
        pending = [group]
        while pending:
            dn = pending.pop()
            key = dn_key(dn)
            if key in seen:
                continue
            seen.add(key)
            if key in self.people:
                found.add(key)
            elif dn is group or key in self._groups():
                pending.extend(self._expand(dn, key, top=dn is group))
        return found

    def _groups(self) -> set[str]:
        """The dn keys of the groups under the base, found once: a member that is neither one
        of the people nor one of these (a computer, a person the filter leaves out) is not read."""
        if self._group_keys is None:
            classes = "".join(f"(objectClass={name})" for name in sorted(GROUP_CLASSES))
            found = self.reader.search(self.base, f"(|{classes})", ["1.1"], self.page_size)
            self._group_keys = {dn_key(dn) for dn, _ in found}
        return self._group_keys

    def _expand(self, dn: str, key: str, *, top: bool) -> Iterable[str]:
        entry = self.reader.read(dn, ["objectClass", "member"])
        if entry is None:
            if top:
                self.missing.append(dn)
            return ()
        values = {name.lower(): found for name, found in entry.items()}
        classes = {c.lower() for c in values.get("objectclass", ())}
        if not classes & GROUP_CLASSES:
            return ()  # a person outside this sync, or some other entry
        ranged = any(name.startswith("member;range=") for name in values)
        if values.get("member") and not ranged:
            return values["member"]
        return [*self._by_member_of(key), *self._nested_by_member_of(dn)]

    def _by_member_of(self, key: str) -> list[str]:
        if self._member_of is None:
            self._member_of = {}
            for person, groups in self.people.items():
                for group in groups:
                    self._member_of.setdefault(dn_key(group), set()).add(person)
        return sorted(self._member_of.get(key, ()))

    def _nested_by_member_of(self, dn: str) -> list[str]:
        classes = "".join(f"(objectClass={name})" for name in ("group", "groupOfNames"))
        search_filter = f"(&(memberOf={escape_filter_chars(dn)})(|{classes}))"
        found = self.reader.search(self.base, search_filter, ["objectClass"], self.page_size)
        return [nested for nested, _ in found]
