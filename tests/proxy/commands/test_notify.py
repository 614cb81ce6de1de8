"""Every command that changes what a proxy decides tells the fleet, once it has committed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.proxy.store.listening import ON_POSTGRES, Listening

if TYPE_CHECKING:
    from tests.proxy.cli_support import Leeway

pytestmark = ON_POSTGRES

TRAINING = "username,module,completed_at\n"


@pytest.fixture
def staff(leeway: Leeway) -> Leeway:
    leeway.ok("users", "add", "alice")
    leeway.ok("users", "add", "bob")
    return leeway


@pytest.fixture
def listening(db_url: str, staff: Leeway) -> Iterator[Listening]:
    with Listening(db_url) as listener:
        yield listener


def test_users_add_and_import(staff: Leeway, listening: Listening) -> None:
    staff.ok("users", "add", "carol", "--department", "Finance")
    assert listening.received() == ["user:carol"]
    users = "username,display_name,department\n"
    rows = "alice,Alice,Finance\nbob,,\ndave,Dave,Policy\n"
    staff.ok("users", "import", staff.csv("users.csv", users + rows))
    assert sorted(listening.received()) == ["user:alice", "user:dave"], "bob did not change"


def test_training_record_and_import(staff: Leeway, listening: Listening) -> None:
    staff.ok("training", "record", "alice", "social-media-basics")
    assert listening.received() == ["user:alice"]
    rows = "alice,rich-media-awareness,2026-03-01\nbob,social-media-basics,2026-03-02\n"
    staff.ok("training", "import", staff.csv("lms.csv", TRAINING + rows))
    assert sorted(listening.received()) == ["user:alice", "user:bob"]


def test_a_large_training_import_says_all(staff: Leeway, listening: Listening) -> None:
    rows = "".join(f"u{i},social-media-basics,2026-03-01\n" for i in range(150))
    staff.ok("training", "import", staff.csv("lms.csv", TRAINING + rows), "--create-users")
    assert listening.received() == ["all"]


def test_a_refused_import_tells_nobody(staff: Leeway, listening: Listening) -> None:
    rows = "alice,social-media-basics,2026-03-01\nbob,no-such-module,2026-03-02\n"
    assert staff("training", "import", staff.csv("lms.csv", TRAINING + rows)).code == 1
    assert listening.received(0.5) == []


def test_grants_add_and_revoke(staff: Leeway, listening: Listening) -> None:
    staff.ok("grants", "add", "bob", "comms-publisher")
    assert listening.received() == ["user:bob"]
    staff.ok("grants", "revoke", "bob", "comms-publisher")
    assert listening.received() == ["user:bob"]
    assert staff("grants", "revoke", "bob", "comms-publisher").code == 1
    assert listening.received() == [], "nothing was revoked"


def test_addresses_add(staff: Leeway, listening: Listening) -> None:
    staff.ok("addresses", "add", "10.1.2.0/24", "alice")
    assert listening.received() == ["addresses"]
