"""Entries as people: the attribute map, what is dropped and why, disabled AD accounts."""

from __future__ import annotations

import pytest

from proxy.directory.entries import (
    DEFAULT_ATTRIBUTES,
    DirectoryPerson,
    MappingError,
    attribute_map,
    person_of,
)

DN = "uid=ana,ou=people,dc=example,dc=org"


def test_the_defaults_are_openldaps_and_fields_can_be_remapped() -> None:
    assert attribute_map([]) == DEFAULT_ATTRIBUTES
    mapping = attribute_map(["username=sAMAccountName", "department = department"])
    assert mapping == {
        **DEFAULT_ATTRIBUTES,
        "username": "sAMAccountName",
        "department": "department",
    }


@pytest.mark.parametrize(
    ("given", "why"),
    [
        pytest.param("username", "expected FIELD=ATTR", id="no equals"),
        pytest.param("phone=telephoneNumber", "unknown field 'phone'", id="unknown field"),
        pytest.param("email=mail address", "is not an attribute name", id="bad attribute"),
    ],
)
def test_bad_mappings_are_refused_with_the_reason(given: str, why: str) -> None:
    with pytest.raises(MappingError, match=why):
        attribute_map([given])


def test_a_person_is_read_case_insensitively_and_the_email_lower_cased() -> None:
    attributes = {
        "UID": ["Ana"],
        "cn": ["Ana Abel"],
        "ou": ["Finance"],
        "mail": ["Ana@Example.ORG"],
    }
    person, dropped = person_of(DN, attributes, DEFAULT_ATTRIBUTES)
    assert person == DirectoryPerson(DN, "Ana", "Ana Abel", "Finance", "ana@example.org")
    assert dropped == []


def test_no_username_drops_the_person_and_a_bad_department_only_the_field() -> None:
    person, dropped = person_of(DN, {"cn": ["Ana"]}, DEFAULT_ATTRIBUTES)
    assert person is None
    assert [d.reason for d in dropped] == ["no uid (the username): skipped"]
    person, dropped = person_of(DN, {"uid": ["ana"], "ou": ["R&D <lab>"]}, DEFAULT_ATTRIBUTES)
    assert person is not None
    assert person.department is None
    assert "department left empty" in dropped[0].reason


def test_a_disabled_active_directory_account_counts_as_not_found() -> None:
    mapping = attribute_map(["username=sAMAccountName"])
    enabled = {"sAMAccountName": ["ana"], "userAccountControl": ["512"], "memberOf": ["cn=g"]}
    person, _ = person_of(DN, enabled, mapping)
    assert person is not None
    assert person.member_of == ("cn=g",)
    disabled, dropped = person_of(DN, {**enabled, "userAccountControl": ["514"]}, mapping)
    assert (disabled, dropped) == (None, [])
