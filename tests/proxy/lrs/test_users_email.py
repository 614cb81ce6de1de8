"""Users' e-mail addresses, how statements name people: `users add --email`, `users import`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from proxy.store.db import make_engine
from proxy.store.models import User

if TYPE_CHECKING:
    from tests.proxy.cli_support import Leeway


def emails(db_url: str) -> dict[str, str | None]:
    engine = make_engine(db_url)
    with Session(engine) as session:
        rows = dict(session.execute(select(User.username, User.email)).all())
    engine.dispose()
    return rows


def test_users_add_takes_an_email_stored_lower_case(leeway: Leeway, db_url: str) -> None:
    leeway.ok("users", "add", "ana", "--email", "Ana@Example.org")
    assert emails(db_url) == {"ana": "ana@example.org"}
    refused = leeway("users", "add", "bo", "--email", "ANA@example.org")
    assert refused.code == 1
    assert "'ana@example.org' is already the address of user 'ana'" in refused.err
    bad = leeway("users", "add", "cy", "--email", "not an address")
    assert bad.code == 1
    assert "is not an e-mail address" in bad.err


def test_users_import_reads_an_optional_email_column(leeway: Leeway, db_url: str) -> None:
    four = leeway.csv(
        "people.csv",
        "username,display_name,department,email\nana,Ana,Finance,Ana@Example.org\nbo,Bo,Finance,\n",
    )
    leeway.ok("users", "import", four)
    assert emails(db_url) == {"ana": "ana@example.org", "bo": None}
    three = leeway.csv("again.csv", "username,display_name,department\nana,Ana B,Finance\n")
    leeway.ok("users", "import", three)
    assert emails(db_url)["ana"] == "ana@example.org"  # the three-column file keeps it


def test_an_email_twice_in_a_file_is_a_bad_row(leeway: Leeway, db_url: str) -> None:
    twice = leeway.csv(
        "twice.csv",
        "email,username,display_name,department\na@example.org,ana,,\nA@example.org,bo,,\n",
    )
    result = leeway("users", "import", twice)
    assert result.code == 1
    assert "email 'a@example.org' repeated (first on line 2)" in result.err
    assert emails(db_url) == {}
