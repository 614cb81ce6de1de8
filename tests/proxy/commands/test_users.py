"""`leeway users import` and `leeway users add`, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from proxy.store.models import User
from tests.proxy.cli_support import count

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from tests.proxy.cli_support import Leeway

USERS = """username,display_name,department
alice,Alice Archer,Comms & Media
bob,Bob Baker,
carol,,IT (Operations)
"""


def users(engine: Engine) -> dict[str, tuple[str | None, str | None]]:
    with Session(engine) as session:
        rows = session.execute(select(User.username, User.display_name, User.department))
        return {name: (display, department) for name, display, department in rows}


def test_import_adds_users_and_prints_a_summary(leeway: Leeway, engine: Engine) -> None:
    out = leeway.ok("users", "import", leeway.csv("users.csv", USERS))
    assert out == ("users.csv: 3 rows read, 3 imported, 0 updated, 0 already present, 0 skipped\n")
    assert users(engine) == {
        "alice": ("Alice Archer", "Comms & Media"),
        "bob": ("Bob Baker", None),
        "carol": (None, "IT (Operations)"),
    }


def test_importing_the_same_file_twice_changes_nothing(leeway: Leeway, engine: Engine) -> None:
    path = leeway.csv("users.csv", USERS)
    leeway.ok("users", "import", path)
    before = users(engine)
    out = leeway.ok("users", "import", path)
    assert "0 imported, 0 updated, 3 already present" in out
    assert users(engine) == before
    assert count(engine, User) == 3


def test_import_updates_names_and_departments(leeway: Leeway, engine: Engine) -> None:
    leeway.ok("users", "import", leeway.csv("users.csv", USERS))
    changed = "username,display_name,department\nalice,Alice Archer,Legal\ndave,Dave,HR\n"
    out = leeway.ok("users", "import", leeway.csv("changed.csv", changed))
    assert "2 rows read, 1 imported, 1 updated, 0 already present" in out
    assert users(engine)["alice"] == ("Alice Archer", "Legal")
    assert count(engine, User) == 4


def test_bad_rows_are_all_reported_and_nothing_is_written(leeway: Leeway, engine: Engine) -> None:
    text = "username,display_name,department\nalice,A,HR\n,Nobody,HR\nbob,B,Sales;x\nalice,A,HR\n"
    result = leeway("users", "import", leeway.csv("users.csv", text))
    assert result.code == 1
    assert result.out == ""
    assert result.err.splitlines() == [
        "users.csv: line 3: empty username",
        "users.csv: line 4: bad department 'Sales;x': ';' not allowed"
        " (use letters, digits, spaces and & - _ . / ( ) ' ,)",
        "users.csv: line 5: username 'alice' repeated (first on line 2)",
        "users.csv: 3 bad rows of 4: nothing imported"
        " (fix them, or import the good rows with --skip-invalid)",
    ]
    assert count(engine, User) == 0


def test_skip_invalid_imports_the_good_rows(leeway: Leeway, engine: Engine) -> None:
    text = "username,display_name,department\nalice,A,HR\n,Nobody,HR\nbob,B,\n"
    result = leeway("users", "import", leeway.csv("users.csv", text), "--skip-invalid")
    assert result.code == 0
    assert result.err == "users.csv: line 3: empty username\n"
    assert "3 rows read, 2 imported, 0 updated, 0 already present, 1 skipped" in result.out
    assert set(users(engine)) == {"alice", "bob"}


def test_a_wrong_header_is_refused(leeway: Leeway, engine: Engine) -> None:
    result = leeway("users", "import", leeway.csv("users.csv", "username,name\nalice,A\n"))
    assert result.code == 1
    assert result.err == (
        "users.csv: line 1: bad header: missing 'display_name', 'department';"
        " unexpected 'name' (expected username,display_name,department)\n"
    )
    assert count(engine, User) == 0


def test_a_missing_file_is_refused(leeway: Leeway) -> None:
    result = leeway("users", "import", "nowhere.csv")
    assert result.code == 1
    assert result.err.startswith("nowhere.csv: cannot read nowhere.csv: No such file")


def test_add_creates_then_updates_a_user(leeway: Leeway, engine: Engine) -> None:
    assert leeway.ok("users", "add", "alice", "--department", "HR") == "user alice: created\n"
    assert leeway.ok("users", "add", "alice", "--display-name", "Alice") == "user alice: updated\n"
    assert users(engine) == {"alice": ("Alice", "HR")}
    assert leeway.ok("users", "add", "alice") == "user alice: unchanged\n"
    leeway.ok("users", "add", "alice", "--department", "")
    assert users(engine) == {"alice": ("Alice", None)}


def test_add_refuses_a_bad_department_or_username(leeway: Leeway, engine: Engine) -> None:
    result = leeway("users", "add", "alice", "--department", "<script>")
    assert result.code == 1
    assert "bad department '<script>'" in result.err
    result = leeway("users", "add", "al ice")
    assert result.code == 1
    assert result.err == "username 'al ice' contains spaces or control characters\n"
    assert count(engine, User) == 0


def test_a_file_that_is_not_utf8_is_refused_at_its_line(leeway: Leeway, engine: Engine) -> None:
    path = leeway.folder / "users.csv"
    good = "".join(f"user{n},User {n},HR\r\n" for n in range(5))
    content = f"\ufeffusername,display_name,department\r\n{good}".encode()
    content += "j\u00f6rg,J\u00f6rg,HR\r\nzo\u00eb,Zo\u00eb,HR\r\n".encode("latin-1")
    path.write_bytes(content)
    result = leeway("users", "import", str(path), "--skip-invalid")
    assert result.code == 1
    assert result.err == (
        f"users.csv: line 7: not UTF-8 text: byte 0xf6 at offset {content.index(b'\xf6')}"
        " (save the file as UTF-8)\n"
    )
    assert count(engine, User) == 0


EMAILS = "username,display_name,department,email\nana,,,ana@example.org\nbo,,,bo@example.org\n"


def emails(engine: Engine) -> dict[str, str | None]:
    with Session(engine) as session:
        return dict(session.execute(select(User.username, User.email)).all())


def test_an_empty_email_cell_clears_the_address_and_no_email_column_keeps_it(
    leeway: Leeway, engine: Engine
) -> None:
    leeway.ok("users", "import", leeway.csv("people.csv", EMAILS))
    leeway.ok("users", "import", leeway.csv("three.csv", USERS.replace("alice", "ana")))
    assert emails(engine)["ana"] == "ana@example.org"
    cleared = "username,display_name,department,email\nana,,,\n"
    out = leeway.ok("users", "import", leeway.csv("cleared.csv", cleared))
    assert "1 updated" in out
    assert emails(engine) == {"ana": None, "bo": "bo@example.org", "bob": None, "carol": None}


def test_an_email_another_user_keeps_is_a_bad_row_on_its_line(
    leeway: Leeway, engine: Engine
) -> None:
    leeway.ok("users", "import", leeway.csv("people.csv", EMAILS))
    leeway.ok("users", "add", "cy", "--email", "cy@example.org")
    # Line 2 takes bo's address; line 3 asks for cy's, so ana keeps hers, which line 4 wants.
    text = (
        "username,display_name,department,email\n"
        "dee,,,BO@example.org\nana,,,cy@example.org\neve,,,ana@example.org\nfay,,,fay@example.org\n"
    )
    path = leeway.csv("taken.csv", text)
    result = leeway("users", "import", path)
    assert result.code == 1
    assert result.err.splitlines() == [
        "taken.csv: line 2: email 'bo@example.org' is already user 'bo''s",
        "taken.csv: line 3: email 'cy@example.org' is already user 'cy''s",
        "taken.csv: line 4: email 'ana@example.org' is already user 'ana''s",
        "taken.csv: 3 bad rows of 4: nothing imported"
        " (fix them, or import the good rows with --skip-invalid)",
    ]
    before = {"ana": "ana@example.org", "bo": "bo@example.org", "cy": "cy@example.org"}
    assert emails(engine) == before
    out = leeway.ok("users", "import", path, "--skip-invalid")
    assert "4 rows read, 1 imported, 0 updated, 0 already present, 3 skipped" in out
    assert emails(engine) == {**before, "fay": "fay@example.org"}


def test_addresses_can_move_and_swap_between_users_of_one_file(
    leeway: Leeway, engine: Engine
) -> None:
    leeway.ok("users", "import", leeway.csv("people.csv", EMAILS))
    leeway.ok("users", "add", "cy", "--email", "cy@example.org")
    text = (
        "username,display_name,department,email\n"
        "ana,,,bo@example.org\nbo,,,ana@example.org\ncy,,,\ndee,,,cy@example.org\n"
    )
    out = leeway.ok("users", "import", leeway.csv("moved.csv", text))
    assert "4 rows read, 1 imported, 3 updated" in out
    assert emails(engine) == {
        "ana": "bo@example.org",
        "bo": "ana@example.org",
        "cy": None,
        "dee": "cy@example.org",
    }
