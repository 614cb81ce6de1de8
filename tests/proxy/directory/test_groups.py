"""Groups: `--group-role` split at the right `=`, DNs compared as a directory does, nesting
followed with a cycle guard, and the memberOf path (against the test slapd)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from proxy.directory.client import DirectoryClient, Endpoint
from proxy.directory.groups import GroupRoleError, Groups, dn_key, group_role
from tests.ldif_people import Person, ad_group_ldif, ad_person_ldif, group_dn, group_ldif
from tests.slapd_server import SYNC_DN, SYNC_PASSWORD

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.slapd_server import Slapd


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "cn=managers,ou=groups,dc=example,dc=org=manager",
            ("cn=managers,ou=groups,dc=example,dc=org", "manager"),
            id="the last = splits",
        ),
        pytest.param(
            r"cn=a\=b,dc=example,dc=org = comms-publisher",
            (r"cn=a\=b,dc=example,dc=org", "comms-publisher"),
            id="an escaped = in the DN, spaces around",
        ),
        pytest.param(
            "CN=Domain Managers,OU=Groups,DC=corp,DC=example=manager",
            ("CN=Domain Managers,OU=Groups,DC=corp,DC=example", "manager"),
            id="Active Directory's spelling",
        ),
    ],
)
def test_a_group_role_splits_at_the_last_equals(text: str, expected: tuple[str, str]) -> None:
    assert group_role(text) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        pytest.param("cn=managers,ou=groups,dc=example,dc=org", "is not a DN", id="no role"),
        pytest.param("manager", "expected GROUP_DN=ROLE", id="no DN"),
        pytest.param("cn=managers,dc=org=", "expected GROUP_DN=ROLE", id="empty role"),
        pytest.param("cn=managers,dc=org=a,b", "expected GROUP_DN=ROLE", id="role with a comma"),
    ],
)
def test_a_bad_group_role_is_refused(text: str, why: str) -> None:
    with pytest.raises(GroupRoleError, match=why):
        group_role(text)


def test_dns_compare_without_case_or_spaces() -> None:
    assert dn_key("CN=Ana Abel, OU=People,DC=Example,DC=org") == dn_key(
        "cn=ana abel,ou=people,dc=example,dc=org"
    )
    assert dn_key("cn=a,dc=org") != dn_key("cn=b,dc=org")


@pytest.fixture
def client(slapd: Slapd) -> Iterator[DirectoryClient]:
    endpoint = Endpoint(slapd.url, SYNC_DN, SYNC_PASSWORD, timeout=5)
    with DirectoryClient(endpoint) as opened:
        yield opened


@pytest.mark.process
def test_nested_groups_are_followed_and_a_cycle_ends(slapd: Slapd, client: DirectoryClient) -> None:
    ou = slapd.new_ou()
    people = [Person(name, name.title(), "IT") for name in ("ann", "ben", "cat", "out")]
    a, b, c = group_dn(ou, "a"), group_dn(ou, "b"), group_dn(ou, "c")
    ann, ben, cat, outsider = (p.dn(ou) for p in people)
    slapd.add("\n".join(p.ldif(ou) for p in people))
    # a -> b -> c, then c -> a: a cycle
    slapd.add(group_ldif(ou, "c", [cat, outsider]))
    slapd.add(group_ldif(ou, "b", [ben, c]))
    slapd.add(group_ldif(ou, "a", [ann, b]))
    slapd.modify(f"dn: {c}\nchangetype: modify\nadd: member\nmember: {a}\n")
    found = {dn_key(p.dn(ou)): () for p in people[:3]}  # `out` is not one of the sync's people
    groups = Groups(client, ou, 100, dict(found))
    assert groups.members(a) == {dn_key(ann), dn_key(ben), dn_key(cat)}
    assert groups.members(c) == {dn_key(ann), dn_key(ben), dn_key(cat)}


@pytest.mark.process
def test_a_group_without_members_has_those_whose_memberof_names_it(
    slapd: Slapd, client: DirectoryClient
) -> None:
    ou = slapd.new_ou("ad")
    top, nested = group_dn(ou, "Top"), group_dn(ou, "Nested")
    slapd.add(ad_group_ldif(ou, "Top", []) + "\n" + ad_group_ldif(ou, "Nested", [top]))
    slapd.add(ad_person_ldif(ou, "zoe", "Zoe Zed", [top]) + "\n")
    slapd.add(ad_person_ldif(ou, "yan", "Yan Yu", [nested]) + "\n")
    zoe, yan = f"cn=Zoe Zed,ou=people,{ou}", f"cn=Yan Yu,ou=people,{ou}"
    people: dict[str, tuple[str, ...]] = {dn_key(zoe): (top,), dn_key(yan): (nested,)}
    groups = Groups(client, ou, 100, people)
    assert groups.members(top) == {dn_key(zoe), dn_key(yan)}
    assert groups.members(nested) == {dn_key(yan)}


@pytest.mark.process
def test_a_group_that_does_not_exist_is_reported(slapd: Slapd, client: DirectoryClient) -> None:
    ou = slapd.new_ou()
    groups = Groups(client, ou, 100, {})
    assert groups.members(group_dn(ou, "nope")) == set()
    assert groups.missing == [group_dn(ou, "nope")]
