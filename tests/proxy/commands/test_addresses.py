"""`leeway addresses add CIDR USERNAME`, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from proxy.store.models import ClientAddress, User
from proxy.store.people import user_for_address
from tests.proxy.cli_support import count

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from tests.proxy.cli_support import Leeway


@pytest.fixture
def staff(leeway: Leeway) -> Leeway:
    leeway.ok("users", "add", "alice")
    leeway.ok("users", "add", "bob")
    return leeway


def networks(engine: Engine) -> dict[str, str]:
    with Session(engine) as session:
        rows = session.execute(
            select(ClientAddress.network, User.username).join(
                User, User.id == ClientAddress.user_id
            )
        )
        return dict(rows.all())


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("10.1.2.0/24", "10.1.2.0/24"),
        ("10.1.2.7", "10.1.2.7/32"),
        ("2001:DB8:0:0::/64", "2001:db8::/64"),
        ("2001:db8::7", "2001:db8::7/128"),
    ],
)
def test_add_stores_the_normalised_network(
    staff: Leeway, engine: Engine, given: str, stored: str
) -> None:
    assert staff.ok("addresses", "add", given, "alice") == f"{stored} -> alice\n"
    assert networks(engine) == {stored: "alice"}


def test_the_same_network_again_moves_to_the_new_user(staff: Leeway, engine: Engine) -> None:
    staff.ok("addresses", "add", "10.1.2.0/24", "alice")
    assert (
        staff.ok("addresses", "add", "10.1.2.0/24", "bob")
        == "10.1.2.0/24 -> bob (moved from alice)\n"
    )
    assert networks(engine) == {"10.1.2.0/24": "bob"}
    assert staff.ok("addresses", "add", "10.1.2.0/24", "bob") == "10.1.2.0/24 -> bob\n"


def test_the_proxy_finds_the_user_by_longest_prefix(staff: Leeway, engine: Engine) -> None:
    staff.ok("addresses", "add", "10.1.0.0/16", "alice")
    staff.ok("addresses", "add", "10.1.2.7", "bob")
    with Session(engine) as session:
        assert user_for_address(session, "10.1.2.7") == "bob"
        assert user_for_address(session, "10.1.2.8") == "alice"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["10.1.2.7/24", "alice"],
            "bad network '10.1.2.7/24': host bits are set (did you mean 10.1.2.0/24?)",
            id="host bits",
        ),
        pytest.param(
            ["10.1.2/24", "alice"],
            "bad network '10.1.2/24': expected an address or CIDR network,"
            " e.g. 10.1.2.0/24, 10.1.2.7 or 2001:db8::/64",
            id="not a network",
        ),
        pytest.param(
            ["10.1.2.0/24", "carol"],
            "unknown user 'carol': add them with `leeway users add carol`",
            id="unknown user",
        ),
    ],
)
def test_add_refusals(staff: Leeway, engine: Engine, args: list[str], message: str) -> None:
    result = staff("addresses", "add", *args)
    assert result.code == 1
    assert result.err == message + "\n"
    assert count(engine, ClientAddress) == 0
