"""`leeway db upgrade`, and how every command treats a database that is not ready."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from proxy.cli import main
from proxy.store import migrate
from proxy.store.db import mask_url

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import PostgresDatabases

UNREACHABLE = "postgresql://leeway:s3cret@127.0.0.1:1/leeway"


def test_upgrade_migrates_then_finds_nothing_to_do(
    empty_db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    head = migrate.head()
    assert main(["db", "upgrade", "--db-url", empty_db_url]) == 0
    out = capsys.readouterr().out
    assert (
        out == f"database {mask_url(empty_db_url)}: migrated from empty to revision {head} (head)\n"
    )
    assert migrate.current(empty_db_url) == head
    assert main(["--db-url", empty_db_url, "db", "upgrade"]) == 0
    assert capsys.readouterr().out.endswith(f": already at revision {head} (head)\n")


def test_upgrade_uses_the_environment_and_defaults_to_sqlite_here(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["db", "upgrade"]) == 0
    assert (tmp_path / "leeway.db").exists()
    monkeypatch.setenv("LEEWAY_DB_URL", f"sqlite:///{tmp_path / 'env.db'}")
    assert main(["db", "upgrade"]) == 0
    assert (tmp_path / "env.db").exists()
    assert "env.db" in capsys.readouterr().out


def test_commands_migrate_an_embedded_sqlite_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert main(["users", "add", "alice", "--db-url", url]) == 0
    assert migrate.current(url) == migrate.head()


@pytest.mark.postgres
def test_commands_refuse_a_postgres_database_not_migrated(
    postgres_databases: PostgresDatabases, capsys: pytest.CaptureFixture[str]
) -> None:
    name = postgres_databases.create("leeway_t")
    try:
        url = postgres_databases.url(name)
        assert main(["users", "add", "alice", "--db-url", url]) == 1
        assert capsys.readouterr().err == (
            f"database {mask_url(url)} is not migrated: run `leeway db upgrade`\n"
        )
        assert migrate.current(url) is None
    finally:
        postgres_databases.drop(name)


@pytest.mark.parametrize("command", [["db", "upgrade"], ["users", "add", "alice"]])
def test_an_unreachable_database_is_one_line_without_the_password(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command, "--db-url", UNREACHABLE]) == 1
    err = capsys.readouterr().err
    assert err.startswith("database postgresql://leeway:***@127.0.0.1:1/leeway is unavailable: ")
    assert err.count("\n") == 1
    assert "s3cret" not in err


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "bad database URL: Could not parse SQLAlchemy URL"),
        ("mysql://a:pw@db/x", "database URL 'mysql://a:***@db/x': mysql is not supported"),
        ("postgresql+pg8000://db/x", "driver not available: No module named 'pg8000'"),
    ],
)
def test_a_bad_database_url_is_refused(
    url: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "upgrade", "--db-url", url]) == 1
    err = capsys.readouterr().err
    assert message in err
    assert "pw" not in err


def test_a_sqlite_file_that_cannot_be_opened_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["users", "add", "alice", "--db-url", "sqlite:////nonexistent/dir/x.db"]) == 1
    assert capsys.readouterr().err == (
        "database sqlite:////nonexistent/dir/x.db is unavailable: unable to open database file\n"
    )
