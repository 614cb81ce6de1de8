"""Who is who across syncs: a person renamed in the directory stays the same user, and a
new entry under a former person's name is a new user.

Against the session's real slapd, through `leeway users sync`: OpenLDAP's `modrdn` changes
the DN and the username at once, and only the entry's `entryUUID` says it is the same
person; the AD-like entries carry an `objectGUID`, as Active Directory's do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from proxy.store.db import make_engine
from proxy.store.models import TrainingCompletion, User
from tests.ldif_people import Person, ad_person_ldif
from tests.proxy.directory.test_sync import grants, roles_held, synced

if TYPE_CHECKING:
    from tests.proxy.cli_support import Leeway
    from tests.slapd_server import Slapd

pytestmark = pytest.mark.process  # a real slapd
DAVE = Person("dave", "Dave Dyer", "IT")
MODULE = "social-media-basics"
GUID = bytes.fromhex("40fc296b47ca6710b31d00dd010662da")  # 6b29fc40-ca47-1067-b31d-...


def people(db_url: str) -> dict[str, tuple[int, str | None, list[str]]]:
    """username -> (user id, directory id, modules completed)."""
    engine = make_engine(db_url)
    with Session(engine) as session:
        rows = session.execute(select(User.username, User.id, User.directory_id)).all()
        done = session.execute(select(TrainingCompletion.user_id, TrainingCompletion.module))
        modules: dict[int, list[str]] = {}
        for user_id, module in done:
            modules.setdefault(user_id, []).append(module)
    engine.dispose()
    return {name: (i, found, modules.get(i, [])) for name, i, found in rows}


def rename(slapd: Slapd, dn: str, rdn: str) -> None:
    slapd.modify(f"dn: {dn}\nchangetype: modrdn\nnewrdn: {rdn}\ndeleteoldrdn: 1\n")


def dave_trained_then_renamed(leeway: Leeway, slapd: Slapd, ou: str) -> tuple[int, str, list[str]]:
    """Sync, train dave, rename him to david in the directory: his user as it was."""
    synced(leeway, slapd, ou)
    assert leeway("training", "record", "dave", MODULE).code == 0
    user_id, directory_id, modules = people(leeway.db_url)["dave"]
    assert directory_id is not None and directory_id.startswith("entryUUID:")
    assert modules == [MODULE]
    rename(slapd, DAVE.dn(ou), "uid=david")
    return user_id, directory_id, modules


def test_a_person_renamed_dn_and_username_keeps_their_user_and_training(
    leeway: Leeway, slapd: Slapd, directory_ou: str
) -> None:
    before = dave_trained_then_renamed(leeway, slapd, directory_ou)
    planned = synced(leeway, slapd, directory_ou, "--dry-run")
    assert "would change dave: username 'dave' -> 'david', directory_dn" in planned
    out = synced(leeway, slapd, directory_ou)
    assert "4 people found: 0 added, 1 changed, 0 deactivated, 0 reactivated, 3 unchanged" in out
    after = people(leeway.db_url)
    assert "dave" not in after
    assert after["david"] == before, "the same user, identifier and training"


def test_a_newcomer_may_take_the_old_name_of_someone_renamed_in_the_same_sync(
    leeway: Leeway, slapd: Slapd, directory_ou: str
) -> None:
    before = dave_trained_then_renamed(leeway, slapd, directory_ou)
    slapd.add(Person("dave", "Dave Newman", "Finance").ldif(directory_ou))
    out = synced(leeway, slapd, directory_ou)
    assert "5 people found: 1 added, 1 changed, 0 deactivated" in out
    after = people(leeway.db_url)
    assert after["david"] == before
    newcomer = after["dave"]
    assert newcomer[0] != before[0] and newcomer[1] != before[1]
    assert newcomer[2] == [], "the newcomer has none of the other person's training"


def test_an_active_directory_account_renamed_is_followed_by_its_objectguid(
    leeway: Leeway, slapd: Slapd
) -> None:
    ou = slapd.new_ou("ad")
    slapd.add(ad_person_ldif(ou, "Jane.Doe", "Jane Doe", [], guid=GUID))
    mapping = ("--attribute", "username=sAMAccountName")
    assert "1 people found: 1 added" in synced(leeway, slapd, ou, *mapping)
    jane = people(leeway.db_url)["Jane.Doe"]
    assert jane[1] == "objectGUID:6b29fc40-ca47-1067-b31d-00dd010662da"
    dn = f"cn=Jane Doe,ou=people,{ou}"
    rename(slapd, dn, "cn=Jane Smith")
    moved = f"cn=Jane Smith,ou=people,{ou}"
    slapd.modify(
        f"dn: {moved}\nchangetype: modify\nreplace: sAMAccountName\nsAMAccountName: Jane.Smith\n"
    )
    out = synced(leeway, slapd, ou, *mapping)
    assert "1 people found: 0 added, 1 changed, 0 deactivated" in out
    assert people(leeway.db_url)["Jane.Smith"] == jane


def test_an_account_made_again_under_a_former_persons_name_is_a_new_user(
    leeway: Leeway, slapd: Slapd, directory_ou: str
) -> None:
    """A new entry (a new hire given the name, or the account deleted and made again) gets
    none of the former person's training or grants: that user is kept as history under
    another name, without the e-mail address the newcomer may now have."""
    synced(leeway, slapd, directory_ou)
    assert leeway("training", "record", "dave", MODULE).code == 0
    assert leeway("grants", "add", "dave", "comms-publisher", "--reason", "by hand").code == 0
    former = people(leeway.db_url)["dave"]
    slapd.delete(DAVE.dn(directory_ou))
    slapd.add(Person("dave", "Dave Newman", "Finance").ldif(directory_ou))
    retired = f"dave#former-{former[0]}"
    planned = synced(leeway, slapd, directory_ou, "--dry-run")
    assert f"would rename dave to {retired} (another directory entry now has the name)" in planned
    out = synced(leeway, slapd, directory_ou)
    assert "4 people found: 1 added, 0 changed, 1 deactivated, 0 reactivated" in out
    assert "1 former users renamed to free their names" in out
    after = people(leeway.db_url)
    assert after[retired] == former, "the former person's user, history and all"
    newcomer = after["dave"]
    assert newcomer[0] != former[0] and newcomer[1] != former[1] and newcomer[2] == []
    assert roles_held(leeway.db_url, "dave") == set()
    [(holder, role, reason)] = [(g[0], g[1], g[3]) for g in grants(leeway.db_url)]
    assert (holder, role, reason) == (retired, "comms-publisher", "by hand"), "kept, not passed on"
    again = synced(leeway, slapd, directory_ou)
    assert "4 people found: 0 added, 0 changed, 0 deactivated, 0 reactivated" in again


def test_two_people_who_swap_usernames_keep_their_own_users(
    leeway: Leeway, slapd: Slapd, directory_ou: str
) -> None:
    synced(leeway, slapd, directory_ou)
    before = people(leeway.db_url)
    alice, bob = (f"uid={name},ou=people,{directory_ou}" for name in ("alice", "bob"))
    rename(slapd, alice, "uid=swapping")
    rename(slapd, bob, "uid=alice")
    rename(slapd, f"uid=swapping,ou=people,{directory_ou}", "uid=bob")
    out = synced(leeway, slapd, directory_ou)
    assert "4 people found: 0 added, 2 changed, 0 deactivated" in out
    after = people(leeway.db_url)
    assert (after["bob"][:2], after["alice"][:2]) == (before["alice"][:2], before["bob"][:2])
