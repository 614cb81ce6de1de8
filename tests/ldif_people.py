"""People and groups as LDIF for the test directory (tests/slapd_server.py).

`Person` is an inetOrgPerson (`uid` the username, `ou` the department); groups are
groupOfNames whose members are DNs of people or of other groups (nesting).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass


@dataclass(frozen=True)
class Person:
    """An inetOrgPerson: `uid` is the username, `ou` the department."""

    uid: str
    cn: str
    department: str
    mail: str | None = None
    password: str | None = None

    def dn(self, ou: str) -> str:
        return f"uid={self.uid},ou=people,{ou}"

    def ldif(self, ou: str) -> str:
        surname = self.cn.split()[-1]
        lines = [f"dn: {self.dn(ou)}", "objectClass: inetOrgPerson", f"uid: {self.uid}"]
        lines += [f"cn: {self.cn}", f"sn: {surname}", f"ou: {self.department}"]
        lines += [f"mail: {self.mail}"] if self.mail else []
        lines += [f"userPassword: {self.password}"] if self.password else []
        return "\n".join(lines) + "\n"


def group_dn(ou: str, name: str) -> str:
    return f"cn={name},ou=groups,{ou}"


def group_ldif(ou: str, name: str, members: list[str]) -> str:
    """A groupOfNames (members are DNs: people or other groups)."""
    lines = [f"dn: {group_dn(ou, name)}", "objectClass: groupOfNames", f"cn: {name}"]
    return "\n".join(lines + [f"member: {member}" for member in members]) + "\n"


SAMPLE_PEOPLE = (
    Person("alice", "Alice Archer", "Communications", "alice@example.org", "alice-password"),
    Person("bob", "Bob Baker", "Finance", "bob@example.org", "bob-password"),
    Person("carol", "Carol Cooper", "Communications", "carol@example.org", "carol-password"),
    Person("dave", "Dave Dyer", "IT", None, "dave-password"),
)


def sample_ldif(ou: str) -> str:
    """Four people in three departments; managers = alice + the group senior (carol): nested."""
    alice, bob, carol, _ = (person.dn(ou) for person in SAMPLE_PEOPLE)
    entries = [person.ldif(ou) for person in SAMPLE_PEOPLE]
    entries.append(group_ldif(ou, "senior", [carol]))
    entries.append(group_ldif(ou, "managers", [alice, group_dn(ou, "senior")]))
    entries.append(group_ldif(ou, "finance", [bob]))
    return "\n".join(entries)


def ad_person_ldif(
    ou: str,
    account: str,
    name: str,
    member_of: list[str],
    control: int = 512,
    guid: bytes | None = None,
) -> str:
    """A person as Active Directory shows one: sAMAccountName, memberOf, userAccountControl
    (512: a normal account; 514: disabled), objectGUID's 16 bytes if given. Its uid
    differs, so the mapping is what counts."""
    lines = [f"dn: cn={name},ou=people,{ou}", "objectClass: inetOrgPerson"]
    lines += ["objectClass: adAccount"]
    lines += [f"cn: {name}", f"sn: {name.split()[-1]}", f"uid: x-{account.lower()}"]
    lines += [f"sAMAccountName: {account}", f"userAccountControl: {control}", "ou: Policy"]
    lines += [f"objectGUID:: {base64.b64encode(guid).decode()}"] if guid is not None else []
    return "\n".join(lines + [f"memberOf: {group}" for group in member_of]) + "\n"


def ad_group_ldif(ou: str, name: str, member_of: list[str]) -> str:
    """An Active Directory-like group with no `member` values: members say `memberOf` it."""
    lines = [f"dn: {group_dn(ou, name)}", "objectClass: group", f"cn: {name}"]
    return "\n".join(lines + [f"memberOf: {group}" for group in member_of]) + "\n"
