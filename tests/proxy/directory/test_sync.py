"""`leeway users sync` against a real slapd, on SQLite and PostgreSQL: people and roles."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from proxy.directory.client import DirectoryClient, DirectoryError, Endpoint
from proxy.directory.entries import attribute_map
from proxy.directory.groups import group_role
from proxy.directory.sync import Search, run_sync
from proxy.setting_defaults import login_name
from proxy.store.db import make_engine
from proxy.store.entitlements import SqlEntitlements
from proxy.store.models import RoleGrant, User
from tests.ldif_people import (
    SAMPLE_PEOPLE,
    Person,
    ad_group_ldif,
    ad_person_ldif,
    group_dn,
    group_ldif,
)
from tests.proxy.store.listening import ON_POSTGRES, Listening
from tests.slapd_server import LIMITED_DN, SMALL_SIZE_LIMIT, SYNC_DN, SYNC_PASSWORD, free_port

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.proxy.cli_support import Leeway, Result
    from tests.slapd_server import Slapd

pytestmark = pytest.mark.process  # a real slapd
ROLE = "comms-publisher"  # a role the bundled policy's rules name


def sync(leeway: Leeway, slapd: Slapd, base: str, *more: str, bind_dn: str = SYNC_DN) -> Result:
    secret = slapd.password_file(SYNC_PASSWORD)
    common = ["--ldap", slapd.url, "--bind-dn", bind_dn, "--bind-password-file", str(secret)]
    return leeway("users", "sync", *common, "--base", base, *more)


def synced(leeway: Leeway, slapd: Slapd, base: str, *more: str) -> str:
    result = sync(leeway, slapd, base, *more)
    assert result.code == 0, result.err
    return result.out


def users(db_url: str) -> dict[str, tuple[str | None, str | None, str | None, bool, bool]]:
    """username -> (display name, department, e-mail, has a DN, deactivated)."""
    engine = make_engine(db_url)
    with Session(engine) as session:
        rows = session.execute(
            select(
                User.username,
                User.display_name,
                User.department,
                User.email,
                User.directory_dn,
                User.deactivated_at,
            )
        ).all()
    engine.dispose()
    return {
        name: (d, dep, mail, dn is not None, gone is not None)
        for name, d, dep, mail, dn, gone in rows
    }


def grants(db_url: str) -> list[tuple[str, str, str, str | None, bool, bool]]:
    """(username, role, granted_by, reason, ended, revoked) of every grant."""
    engine = make_engine(db_url)
    with Session(engine) as session:
        rows = session.execute(
            select(
                User.username,
                RoleGrant.role,
                RoleGrant.granted_by,
                RoleGrant.reason,
                RoleGrant.ends_at,
                RoleGrant.revoked_at,
            )
            .join(User, User.id == RoleGrant.user_id)
            .order_by(User.username, RoleGrant.id)
        ).all()
    engine.dispose()
    return [(u, r, by, why, end is not None, rev is not None) for u, r, by, why, end, rev in rows]


def roles_held(db_url: str, username: str) -> set[str]:
    engine = make_engine(db_url)
    at = datetime.now(UTC)
    subject = SqlEntitlements(engine).subject_for(username, at)
    engine.dispose()
    return {grant.role for grant in subject.grants if grant.active_at(at)}


def move(slapd: Slapd, dn: str, superior: str) -> None:
    rdn = dn.split(",", 1)[0]
    slapd.modify(
        f"dn: {dn}\nchangetype: modrdn\nnewrdn: {rdn}\ndeleteoldrdn: 1\nnewsuperior: {superior}\n"
    )


def test_people_are_added_updated_deactivated_and_reactivated(
    leeway: Leeway, slapd: Slapd, directory_ou: str
) -> None:
    first = synced(leeway, slapd, directory_ou)
    assert "4 people found: 4 added, 0 changed, 0 deactivated, 0 reactivated" in first
    assert users(leeway.db_url)["alice"] == (
        "Alice Archer",
        "Communications",
        "alice@example.org",
        True,
        False,
    )
    bob = Person("bob", "Robert Baker", "IT", "bob@example.org").dn(directory_ou)
    slapd.modify(
        f"dn: {bob}\nchangetype: modify\nreplace: ou\nou: IT\n-\nreplace: cn\ncn: Robert Baker\n"
    )
    second = synced(leeway, slapd, directory_ou)
    assert "4 people found: 0 added, 1 changed, 0 deactivated, 0 reactivated, 3 unchanged" in second
    assert users(leeway.db_url)["bob"][:2] == ("Robert Baker", "IT")
    # Moved out of the base and back, as an account disabled and enabled again: the same
    # entry (an entry deleted and made again is another person: test_matching.py).
    dave, elsewhere = f"uid=dave,ou=people,{directory_ou}", slapd.new_ou("elsewhere")
    move(slapd, dave, f"ou=people,{elsewhere}")
    third = synced(leeway, slapd, directory_ou)
    assert "3 people found: 0 added, 0 changed, 1 deactivated, 0 reactivated" in third
    assert users(leeway.db_url)["dave"] == ("Dave Dyer", "IT", None, True, True), "kept, inactive"
    move(slapd, f"uid=dave,ou=people,{elsewhere}", f"ou=people,{directory_ou}")
    fourth = synced(leeway, slapd, directory_ou)
    assert "4 people found: 0 added, 0 changed, 0 deactivated, 1 reactivated" in fourth
    assert users(leeway.db_url)["dave"][-1] is False


def test_a_deactivated_user_with_training_is_decided_as_an_unknown_user(
    leeway: Leeway, slapd: Slapd, directory_ou: str
) -> None:
    synced(leeway, slapd, directory_ou)
    leeway.ok("training", "record", "dave", "social-media-basics")
    explain = ("explain", "--json", "--method", "POST")
    trained = json.loads(leeway.ok(*explain, "dave", "www.facebook.com"))
    assert (trained["action"], trained["rule"]) == ("warn", "social-trained-staff")
    slapd.delete(Person("dave", "Dave Dyer", "IT").dn(directory_ou))
    synced(leeway, slapd, directory_ou)
    gone = json.loads(leeway.ok(*explain, "dave", "www.facebook.com"))
    stranger = json.loads(leeway.ok(*explain, "nobody-at-all", "www.facebook.com"))
    assert (
        (gone["action"], gone["rule"])
        == (stranger["action"], stranger["rule"])
        == (
            "block",
            "social-everyone",
        )
    )
    assert gone["known_user"] is False
    assert gone["deactivated_at"] is not None
    assert "was deactivated on" in gone["explanation"][0]
    assert "inactive since" in leeway.ok("explain", "dave", "www.facebook.com")


def test_a_user_added_by_hand_is_adopted_in_the_directorys_spelling(
    leeway: Leeway, slapd: Slapd, directory_ou: str
) -> None:
    leeway.ok("users", "add", "ALICE", "--department", "Old")
    leeway.ok("training", "record", "ALICE", "social-media-basics")
    out = synced(leeway, slapd, directory_ou)
    assert "4 people found: 3 added, 1 changed" in out
    assert "ALICE" not in users(leeway.db_url)
    assert users(leeway.db_url)["alice"][1] == "Communications"
    explained = json.loads(leeway.ok("explain", "alice", "www.facebook.com", "--json"))
    assert [t["module"] for t in explained["training"]] == ["social-media-basics"], "same user"


def test_a_member_who_leaves_loses_the_role_and_a_hand_grant_survives(
    leeway: Leeway, slapd: Slapd, directory_ou: str
) -> None:
    managers = group_dn(directory_ou, "managers")
    mapping = ("--group-role", f"{managers}={ROLE}")
    first = synced(leeway, slapd, directory_ou, *mapping)
    assert "role grants: 2 added, 0 ended" in first  # alice, and carol through the nested group
    leeway.ok("grants", "add", "carol", ROLE, "--reason", "covers for the press office")
    senior = group_dn(directory_ou, "senior")
    # carol leaves senior, and senior gets managers for member: a cycle the sync must survive
    slapd.modify(f"dn: {senior}\nchangetype: modify\nreplace: member\nmember: {managers}\n")
    second = synced(leeway, slapd, directory_ou, *mapping)
    assert "role grants: 0 added, 1 ended" in second
    assert grants(leeway.db_url) == [
        ("alice", ROLE, "directory", managers, False, False),
        ("carol", ROLE, "directory", managers, True, False),
        ("carol", ROLE, login_name(), "covers for the press office", False, False),
    ]
    assert roles_held(leeway.db_url, "carol") == {ROLE}, "the hand-made grant still holds"
    leeway.ok("grants", "revoke", "carol", ROLE)
    assert roles_held(leeway.db_url, "carol") == set()


def test_a_hand_revocation_of_a_directory_grant_is_not_undone(
    leeway: Leeway, slapd: Slapd, directory_ou: str
) -> None:
    mapping = ("--group-role", f"{group_dn(directory_ou, 'managers')}={ROLE}")
    synced(leeway, slapd, directory_ou, *mapping)
    leeway.ok("grants", "revoke", "alice", ROLE)
    again = synced(leeway, slapd, directory_ou, *mapping)
    assert "role grants: 0 added, 0 ended, 1 left revoked (revoked by hand)" in again
    assert roles_held(leeway.db_url, "alice") == set()
    assert roles_held(leeway.db_url, "carol") == {ROLE}


def test_a_dry_run_prints_the_changes_and_writes_nothing(
    leeway: Leeway, slapd: Slapd, directory_ou: str
) -> None:
    mapping = ("--group-role", f"{group_dn(directory_ou, 'managers')}={ROLE}")
    out = synced(leeway, slapd, directory_ou, *mapping, "--dry-run")
    assert "would add alice (Alice Archer, Communications, alice@example.org)" in out
    assert f"would grant {ROLE} to carol ({group_dn(directory_ou, 'managers')})" in out
    assert "dry run: nothing written" in out
    assert users(leeway.db_url) == {}
    synced(leeway, slapd, directory_ou, *mapping)
    before = (users(leeway.db_url), grants(leeway.db_url))
    slapd.delete(Person("alice", "", "").dn(directory_ou))
    out = synced(leeway, slapd, directory_ou, *mapping, "--dry-run")
    assert "would deactivate alice" in out
    assert f"would end {ROLE} of alice" in out
    assert (users(leeway.db_url), grants(leeway.db_url)) == before


def test_paging_reads_more_people_than_the_size_limit(
    leeway: Leeway, slapd: Slapd, directory_ou: str
) -> None:
    extra = [Person(f"p{i:02}", f"Person {i}", "Finance") for i in range(SMALL_SIZE_LIMIT + 3)]
    slapd.add("\n".join(person.ldif(directory_ou) for person in extra))
    result = sync(leeway, slapd, directory_ou, "--ldap-page-size", "2", bind_dn=LIMITED_DN)
    assert result.code == 0, result.err
    total = 4 + len(extra)
    assert f"{total} people found: {total} added" in result.out
    assert len(users(leeway.db_url)) == total > SMALL_SIZE_LIMIT


def test_active_directory_names_and_memberof_groups(
    leeway: Leeway, slapd: Slapd, directory_ou: str
) -> None:
    ou = slapd.new_ou("ad")
    staff, nested = group_dn(ou, "Comms Staff"), group_dn(ou, "Comms Seniors")
    slapd.add(
        "\n".join(
            [
                ad_group_ldif(ou, "Comms Staff", []),
                ad_group_ldif(ou, "Comms Seniors", [staff]),
                ad_person_ldif(ou, "Erin.E", "Erin Evans", [staff]),
                ad_person_ldif(ou, "Finn.F", "Finn Fox", [nested]),
                ad_person_ldif(ou, "Gail.G", "Gail Gray", [staff], control=514),  # disabled
                ad_person_ldif(ou, "Hugo.H", "Hugo Hart", []),
            ]
        )
    )
    out = synced(
        leeway,
        slapd,
        ou,
        "--attribute",
        "username=sAMAccountName",
        "--group-role",
        f"{staff}={ROLE}",
    )
    assert "3 people found: 3 added" in out
    assert sorted(users(leeway.db_url)) == ["Erin.E", "Finn.F", "Hugo.H"]
    assert {(g[0], g[3]) for g in grants(leeway.db_url)} == {("Erin.E", staff), ("Finn.F", staff)}


@ON_POSTGRES
def test_the_changes_reach_running_proxies(
    leeway: Leeway, slapd: Slapd, directory_ou: str, db_url: str
) -> None:
    synced(leeway, slapd, directory_ou)
    with Listening(db_url) as listening:
        slapd.delete(Person("bob", "", "").dn(directory_ou))
        synced(leeway, slapd, directory_ou)
        assert listening.received() == ["user:bob"]
        synced(leeway, slapd, directory_ou, "--dry-run")
        assert listening.received(0.5) == [], "a dry run tells nobody"


class StallingAfter:
    """The real client, but slapd is SIGSTOPped once `entries` people have been read: the
    directory stops answering in the middle of the paged search."""

    def __init__(self, client: DirectoryClient, slapd: Slapd, entries: int) -> None:
        self.client, self.slapd, self.entries = client, slapd, entries

    def read(self, dn: str, attributes: list[str]) -> dict[str, list[str]] | None:
        return self.client.read(dn, attributes)

    def search(
        self, base: str, search_filter: str, attributes: list[str], page_size: int
    ) -> Iterator[tuple[str, dict[str, list[str]]]]:
        for number, entry in enumerate(
            self.client.search(base, search_filter, attributes, page_size)
        ):
            if number == self.entries:
                self.slapd.pause()
            yield entry


def test_a_directory_that_stalls_half_way_changes_nothing(
    leeway: Leeway, slapd: Slapd, directory_ou: str
) -> None:
    extra = [Person(f"q{i:02}", f"Quinn {i}", "Finance") for i in range(8)]
    slapd.add("\n".join(person.ldif(directory_ou) for person in extra))
    mapping = f"{group_dn(directory_ou, 'managers')}={ROLE}"
    synced(leeway, slapd, directory_ou, "--group-role", mapping)
    slapd.delete(extra[0].dn(directory_ou), SAMPLE_PEOPLE[0].dn(directory_ou))
    slapd.modify(f"dn: {extra[1].dn(directory_ou)}\nchangetype: modify\nreplace: ou\nou: IT\n")
    before = (users(leeway.db_url), grants(leeway.db_url))
    engine = make_engine(leeway.db_url)
    search = Search(
        directory_ou, "(objectClass=person)", attribute_map([]), (group_role(mapping),), 2
    )
    client = DirectoryClient(Endpoint(slapd.url, SYNC_DN, SYNC_PASSWORD, timeout=1))
    client.open()
    try:
        with pytest.raises(DirectoryError, match="no answer within 1 s"):
            run_sync(engine, StallingAfter(client, slapd, 5), search, datetime.now(UTC))
    finally:
        slapd.resume()
        client.close()
        engine.dispose()
    assert (users(leeway.db_url), grants(leeway.db_url)) == before
    after = synced(leeway, slapd, directory_ou, "--group-role", mapping)
    assert "1 changed, 2 deactivated" in after
    assert "role grants: 0 added, 1 ended" in after


@pytest.mark.parametrize(
    ("problem", "expected"),
    [
        pytest.param("password", "invalid credentials", id="bad bind password"),
        pytest.param("server", "cannot connect", id="unreachable server"),
        pytest.param("base", "no such entry (check the DN)", id="bad base DN"),
        pytest.param(
            "group", "does not exist in the directory (check --group-role)", id="bad group"
        ),
        pytest.param("group-role", "expected GROUP_DN=ROLE", id="no role given"),
        pytest.param("attribute", "unknown field 'phone'", id="bad attribute map"),
        pytest.param("stalled", "no answer within 1 s", id="stalled server"),
    ],
)
def test_errors_are_one_line_and_exit_1(
    leeway: Leeway, slapd: Slapd, directory_ou: str, problem: str, expected: str
) -> None:
    secret = slapd.password_file({"password": "wrong"}.get(problem, SYNC_PASSWORD))
    url = f"ldap://127.0.0.1:{free_port()}" if problem == "server" else slapd.url
    base = f"ou=gone,{directory_ou}" if problem == "base" else directory_ou
    more = {
        "group": ["--group-role", f"{group_dn(directory_ou, 'typo')}={ROLE}"],
        "group-role": ["--group-role", group_dn(directory_ou, "managers")],
        "attribute": ["--attribute", "phone=telephoneNumber"],
    }.get(problem, [])
    command = ["users", "sync", "--ldap", url, "--bind-dn", SYNC_DN, "--base", base, *more]
    if problem == "stalled":
        slapd.pause()
    try:
        result = leeway(*command, "--bind-password-file", str(secret), "--ldap-timeout", "1")
    finally:
        slapd.resume()
    assert result.code == 1
    assert expected in result.err
    assert result.err.count("\n") == 1, result.err
    assert users(leeway.db_url) == {}


def test_a_search_that_finds_nobody_does_not_deactivate_everybody(
    leeway: Leeway, slapd: Slapd, directory_ou: str
) -> None:
    synced(leeway, slapd, directory_ou)
    result = sync(leeway, slapd, directory_ou, "--filter", "(uid=no-such-person)")
    assert result.code == 1
    assert "refusing to deactivate all 4 people" in result.err
    assert not any(user[-1] for user in users(leeway.db_url).values())


def test_a_sync_over_ldaps_uses_the_ca_file(
    leeway: Leeway, slapd: Slapd, directory_ou: str
) -> None:
    secret = slapd.password_file(SYNC_PASSWORD)
    common = ["--bind-dn", SYNC_DN, "--bind-password-file", str(secret), "--base", directory_ou]
    refused = leeway("users", "sync", "--ldap", slapd.ldaps_url, *common)
    assert refused.code == 1
    assert "certificate verify failed" in refused.err
    tls = ["--ldap", slapd.ldaps_url, "--ldap-ca-file", str(slapd.ca_file)]
    assert "4 added" in leeway.ok("users", "sync", *tls, *common)


def test_the_reports_role_model_follows_the_directorys_managers(
    leeway: Leeway, slapd: Slapd
) -> None:
    ou = slapd.new_ou()
    people = [Person(f"m{i}", f"Manager {i}", "Policy") for i in range(6)]
    people += [Person(f"s{i}", f"Staff {i}", "Policy") for i in range(6)]
    slapd.add("\n".join(person.ldif(ou) for person in people))
    slapd.add(group_ldif(ou, "managers", [person.dn(ou) for person in people[:6]]))
    mapping = ("--group-role", f"{group_dn(ou, 'managers')}=manager")
    synced(leeway, slapd, ou, *mapping)

    def sizes() -> dict[str, int]:
        document = json.loads(leeway.ok("report", "--format", "json"))
        return {row["group"]: row["users"] for row in document["role_model"][:2]}

    assert sizes() == {"managers": 6, "staff": 6}
    slapd.modify(
        f"dn: {group_dn(ou, 'managers')}\nchangetype: modify\ndelete: member\n"
        f"member: {people[0].dn(ou)}\n"
    )
    slapd.delete(people[-1].dn(ou))  # s5 leaves: deactivated, no longer staff
    synced(leeway, slapd, ou, *mapping)
    assert sizes() == {"managers": 5, "staff": 6}


def test_every_option_can_come_from_its_variable(
    leeway: Leeway, slapd: Slapd, directory_ou: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEEWAY_LDAP_URL", slapd.url)
    monkeypatch.setenv("LEEWAY_LDAP_BIND_DN", SYNC_DN)
    monkeypatch.setenv("LEEWAY_LDAP_BIND_PASSWORD", SYNC_PASSWORD)
    monkeypatch.setenv("LEEWAY_LDAP_BASE", directory_ou)
    monkeypatch.setenv("LEEWAY_LDAP_FILTER", "(ou=Communications)")
    monkeypatch.setenv("LEEWAY_LDAP_ATTRIBUTE", "display_name=mail")
    managers = group_dn(directory_ou, "managers")
    monkeypatch.setenv("LEEWAY_LDAP_GROUP_ROLE", f"{managers}={ROLE};{managers}=manager")
    out = leeway.ok("users", "sync")
    assert "2 people found: 2 added" in out
    assert "role grants: 4 added" in out
    assert users(leeway.db_url)["alice"][0] == "alice@example.org"
