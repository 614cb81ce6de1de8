"""Users and client addresses in the store: upserts, edits, and the address -> user look-up."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from proxy.store.models import ClientAddress, User
from proxy.store.people import (
    Person,
    assign_network,
    create_missing_users,
    people,
    save_user,
    stored_username,
    upsert_users,
    user_for_address,
    user_ids,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.engine import Engine

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session, session.begin():
        yield session


def ids(session: Session, *names: str) -> list[int]:
    for name in names:
        save_user(session, name, NOW, {})
    session.flush()
    found = user_ids(session)
    return [found[name] for name in names]


def test_upsert_inserts_and_updates_in_one_statement_per_chunk(session: Session) -> None:
    upsert_users(session, [Person("alice", "Alice", "HR"), Person("bob", None, None)], NOW)
    upsert_users(session, [Person("alice", "Alice A", None)], NOW)
    assert people(session) == {
        "alice": Person("alice", "Alice A", None),
        "bob": Person("bob", None, None),
    }


def test_create_missing_users_leaves_existing_ones_alone(session: Session) -> None:
    upsert_users(session, [Person("alice", "Alice", "HR")], NOW)
    create_missing_users(session, ["alice", "carol"], NOW)
    assert people(session)["alice"] == Person("alice", "Alice", "HR")
    assert set(user_ids(session, ["carol", "nobody"])) == {"carol"}


def test_save_user_reports_what_changed(session: Session) -> None:
    assert save_user(session, "alice", NOW, {"department": "HR"}) == "created"
    session.flush()
    assert save_user(session, "alice", NOW, {"department": "HR"}) == "unchanged"
    assert save_user(session, "alice", NOW, {"display_name": "Alice"}) == "updated"
    user = session.scalars(select(User)).one()
    assert (user.display_name, user.department, user.created_at) == ("Alice", "HR", NOW)


def test_save_user_refuses_other_fields(session: Session) -> None:
    with pytest.raises(ValueError, match="cannot change username"):
        save_user(session, "alice", NOW, {"username": "eve"})


def test_assign_network_moves_it_and_says_from_whom(session: Session) -> None:
    alice, bob = ids(session, "alice", "bob")
    network = ipaddress.ip_network("10.1.0.0/16")
    assert assign_network(session, network, alice, NOW) is None
    session.flush()
    assert assign_network(session, network, alice, NOW) is None
    assert assign_network(session, network, bob, NOW) == "alice"
    session.flush()
    assert session.scalars(select(ClientAddress.network)).all() == ["10.1.0.0/16"]


@pytest.mark.parametrize(
    ("ip", "user"),
    [
        pytest.param("10.1.2.7", "carol", id="/32 beats /24 and /16"),
        pytest.param("10.1.2.8", "bob", id="/24 beats /16"),
        pytest.param("10.1.9.9", "alice", id="/16"),
        pytest.param("10.2.0.1", None, id="no network"),
        pytest.param("::ffff:10.1.2.8", "bob", id="IPv4-mapped IPv6"),
        pytest.param("2001:db8::1", "dave", id="IPv6 /64"),
        pytest.param("2001:db9::1", None, id="IPv6 outside"),
    ],
)
def test_user_for_address_takes_the_longest_prefix(
    session: Session, ip: str, user: str | None
) -> None:
    alice, bob, carol, dave = ids(session, "alice", "bob", "carol", "dave")
    for network, owner in [
        ("10.1.0.0/16", alice),
        ("10.1.2.0/24", bob),
        ("10.1.2.7/32", carol),
        ("2001:db8::/64", dave),
    ]:
        assign_network(session, ipaddress.ip_network(network), owner, NOW)
    session.flush()
    assert user_for_address(session, ip) == user
    assert user_for_address(session, ipaddress.ip_address(ip)) == user


def test_stored_username_is_the_stored_spelling_whatever_the_case(session: Session) -> None:
    ids(session, "alice", "Bob")
    assert stored_username(session, "alice") == "alice"
    assert stored_username(session, "ALICE") == "alice"
    assert stored_username(session, "bob") == "Bob"
    assert stored_username(session, "carol") is None


def test_stored_username_prefers_the_exact_one_and_refuses_to_guess(session: Session) -> None:
    ids(session, "dave", "Dave")
    assert stored_username(session, "Dave") == "Dave"
    assert stored_username(session, "dave") == "dave"
    assert stored_username(session, "DAVE") is None  # two people differ only in case
