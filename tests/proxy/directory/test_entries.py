"""Entries as people: the attribute map, what is dropped and why, disabled AD accounts."""

from __future__ import annotations

import pytest

from proxy.directory.entries import (
    DEFAULT_ATTRIBUTES,
    DirectoryPerson,
    MappingError,
    attribute_map,
    attributes_to_read,
    guid_text,
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


def test_the_entrys_permanent_identifier_is_read_first_found_lower_case() -> None:
    base = {"uid": ["ana"]}
    uuid_text = "6B29FC40-CA47-1067-B31D-00DD010662DA"
    found = {**base, "entryUUID": [uuid_text], "nsUniqueId": ["x"]}
    person, _ = person_of(DN, found, DEFAULT_ATTRIBUTES)
    assert person is not None and person.directory_id == f"entryUUID:{uuid_text.lower()}"
    person, _ = person_of(DN, {**base, "nsuniqueid": ["AB-CD"]}, DEFAULT_ATTRIBUTES)
    assert person is not None and person.directory_id == "nsUniqueId:ab-cd"
    person, _ = person_of(DN, base, DEFAULT_ATTRIBUTES)
    assert person is not None and person.directory_id is None
    assert {"entryUUID", "objectGUID", "nsUniqueId"} <= set(attributes_to_read(DEFAULT_ATTRIBUTES))


def test_an_objectguid_is_read_in_the_text_form_active_directory_shows() -> None:
    """AD stores the first three fields little-endian: the text is not the bytes in order."""
    raw = bytes.fromhex("40fc296b47ca6710b31d00dd010662da")
    assert guid_text(raw) == "6b29fc40-ca47-1067-b31d-00dd010662da"
    assert guid_text(raw[:15]) is None
