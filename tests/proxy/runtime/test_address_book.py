"""AddressBook: client networks from the store, longest prefix first, IPv4 and IPv6."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import delete

from proxy.runtime.address_book import AddressBook
from proxy.store import models
from proxy.store.db import StoreUnavailable, make_engine, session_factory

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.engine import Engine

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def _map(engine: Engine, networks: dict[str, str]) -> None:
    """Users (made as needed) and their client networks, as `leeway addresses add` stores them."""
    with session_factory(engine).begin() as session:
        users: dict[str, models.User] = {}
        for username in sorted(set(networks.values())):
            users[username] = models.User(username=username, created_at=NOW)
        session.add_all(users.values())
        session.flush()
        session.add_all(
            models.ClientAddress(network=network, user_id=users[username].id, created_at=NOW)
            for network, username in networks.items()
        )


@pytest.fixture
def book(engine: Engine) -> AddressBook:
    _map(
        engine,
        {
            "10.0.0.0/8": "office",
            "10.1.0.0/16": "finance-desk",
            "10.1.2.3/32": "ada",
            "2001:db8::/32": "office6",
            "2001:db8:1::/48": "bob",
            "2001:db8:1::7/128": "cy",
        },
    )
    book = AddressBook()
    book.load(engine)
    return book


@pytest.mark.parametrize(
    ("address", "username"),
    [
        pytest.param("10.1.2.3", "ada", id="host route beats both networks"),
        pytest.param("10.1.2.4", "finance-desk", id="/16 beats /8"),
        pytest.param("10.200.0.1", "office", id="only the /8"),
        pytest.param("192.168.1.1", None, id="IPv4 not mapped"),
        pytest.param("::ffff:10.1.2.3", "ada", id="IPv4-mapped IPv6 client"),
        pytest.param("2001:db8:1::7", "cy", id="IPv6 /128"),
        pytest.param("2001:DB8:1::8", "bob", id="IPv6 /48, upper case"),
        pytest.param("2001:db8:ffff::1", "office6", id="IPv6 /32"),
        pytest.param("2001:db9::1", None, id="IPv6 not mapped"),
        pytest.param("fe80::1%eth0", None, id="scoped link-local"),
        pytest.param("not-an-address", None, id="garbage"),
        pytest.param("", None, id="empty"),
    ],
)
def test_lookup(book: AddressBook, address: str, username: str | None) -> None:
    assert book.lookup(address) == username


def test_len_counts_networks(book: AddressBook) -> None:
    assert len(book) == 6
    assert len(AddressBook()) == 0


def test_an_empty_book_maps_nobody() -> None:
    assert AddressBook().lookup("10.1.2.3") is None


def test_a_default_route_catches_everything_of_its_family(engine: Engine) -> None:
    _map(engine, {"0.0.0.0/0": "anyone", "10.0.0.0/8": "office"})
    book = AddressBook()
    book.load(engine)
    assert book.lookup("10.0.0.1") == "office"
    assert book.lookup("8.8.8.8") == "anyone"
    assert book.lookup("2001:db8::1") is None


def test_an_ipv4_mapped_network_is_stored_as_ipv4(engine: Engine) -> None:
    _map(engine, {"::ffff:10.9.0.0/112": "mapped"})
    book = AddressBook()
    book.load(engine)
    assert book.lookup("10.9.3.4") == "mapped"
    assert book.lookup("::ffff:10.9.3.4") == "mapped"


def test_load_replaces_the_whole_map(engine: Engine, book: AddressBook) -> None:
    # Answered once before the reload: remembered answers must not outlive their map.
    assert book.lookup("10.1.2.3") == "ada"
    assert book.lookup("2001:db8:1::7") == "cy"
    with session_factory(engine).begin() as session:
        session.execute(
            delete(models.ClientAddress).where(models.ClientAddress.network != "10.0.0.0/8")
        )

    book.load(engine)

    assert len(book) == 1
    assert book.lookup("10.1.2.3") == "office"
    assert book.lookup("2001:db8:1::7") is None


def test_a_row_that_is_not_a_network_is_skipped_with_a_warning(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    _map(engine, {"10.0.0.0/8": "office", "ten-dot-something": "eve"})
    book = AddressBook()
    book.load(engine)
    assert len(book) == 1
    assert "client address 'ten-dot-something' of 'eve' is not a network" in caplog.text


def test_a_failed_load_keeps_the_map_in_use(book: AddressBook, tmp_path: Path) -> None:
    unreachable = make_engine(f"sqlite:///{tmp_path / 'missing' / 'leeway.db'}")
    try:
        with pytest.raises(StoreUnavailable):
            book.load(unreachable)
    finally:
        unreachable.dispose()
    assert book.lookup("10.1.2.3") == "ada"
