"""`leeway training import` and `leeway training record`, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from proxy.store.models import TrainingCompletion, User
from tests.proxy.cli_support import count

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from tests.proxy.cli_support import Leeway

HEADER = "username,module,completed_at\n"
KNOWN = "rich-media-awareness, social-media-basics, social-media-publishing"


@pytest.fixture
def staff(leeway: Leeway) -> Leeway:
    """The database with alice and bob in it."""
    leeway.ok("users", "add", "alice")
    leeway.ok("users", "add", "bob")
    return leeway


def completions(engine: Engine) -> list[tuple[str, str, datetime, str]]:
    with Session(engine) as session:
        rows = session.execute(
            select(User.username, TrainingCompletion.module, TrainingCompletion.completed_at)
            .add_columns(TrainingCompletion.source)
            .join(User, User.id == TrainingCompletion.user_id)
            .order_by(User.username, TrainingCompletion.completed_at)
        )
        return [(name, module, when, source) for name, module, when, source in rows]


def test_import_stores_completions_in_utc(staff: Leeway, engine: Engine) -> None:
    text = (
        HEADER + "alice,social-media-basics,2026-03-01\n"
        "alice,rich-media-awareness,2026-03-01T09:30:00+01:00\n"
        "bob,social-media-basics,2026-03-02 17:45:10\n"
    )
    out = staff.ok("training", "import", staff.csv("lms.csv", text))
    assert out == "lms.csv: 3 rows read, 3 imported, 0 already present, 0 skipped\n"
    assert completions(engine) == [
        ("alice", "social-media-basics", datetime(2026, 3, 1, tzinfo=UTC), "lms.csv"),
        ("alice", "rich-media-awareness", datetime(2026, 3, 1, 8, 30, tzinfo=UTC), "lms.csv"),
        ("bob", "social-media-basics", datetime(2026, 3, 2, 17, 45, 10, tzinfo=UTC), "lms.csv"),
    ]


def test_importing_the_same_file_twice_changes_nothing(staff: Leeway, engine: Engine) -> None:
    text = HEADER + "alice,social-media-basics,2026-03-01\nbob,social-media-basics,2026-03-01\n"
    path = staff.csv("lms.csv", text)
    staff.ok("training", "import", path)
    out = staff.ok("training", "import", path)
    assert out == "lms.csv: 2 rows read, 0 imported, 2 already present, 0 skipped\n"
    assert count(engine, TrainingCompletion) == 2


def test_the_same_moment_written_differently_is_one_completion(
    staff: Leeway, engine: Engine
) -> None:
    staff.ok("training", "record", "alice", "social-media-basics", "--completed-at", "2026-03-01")
    text = HEADER + "alice,social-media-basics,2026-03-01T01:00:00+01:00\n"
    out = staff.ok("training", "import", staff.csv("lms.csv", text))
    assert "0 imported, 1 already present" in out
    assert count(engine, TrainingCompletion) == 1


def test_every_bad_row_is_reported_and_nothing_written(staff: Leeway, engine: Engine) -> None:
    text = (
        HEADER + "alice,social-media-basics,2026-03-01\n"
        ",social-media-basics,2026-03-01\n"
        "carol,social-media-basics,2026-03-01\n"
        "bob,knitting,2026-03-01\n"
        "bob,social-media-basics,2026-13-01\n"
        "bob,social-media-basics,2999-01-01\n"
        "bob,social-media-basics\n"
        "bob,rich-media-awareness,2026-03-01\n"
    )
    result = staff("training", "import", staff.csv("lms.csv", text))
    assert result.code == 1
    assert result.out == ""
    assert result.err.splitlines() == [
        "lms.csv: line 3: empty username",
        "lms.csv: line 4: unknown user 'carol' (import them first, or use --create-users)",
        f"lms.csv: line 5: unknown module 'knitting' (known: {KNOWN})",
        "lms.csv: line 6: bad date '2026-13-01' in completed_at"
        " (expected ISO 8601, e.g. 2026-03-01 or 2026-03-01T09:30:00+01:00)",
        "lms.csv: line 7: completed_at '2999-01-01' is in the future",
        "lms.csv: line 8: expected 3 fields (username,module,completed_at), got 2",
        "lms.csv: 6 bad rows of 8: nothing imported"
        " (fix them, or import the good rows with --skip-invalid)",
    ]
    assert count(engine, TrainingCompletion) == 0


def test_skip_invalid_imports_the_good_rows(staff: Leeway, engine: Engine) -> None:
    text = HEADER + "alice,social-media-basics,2026-03-01\nbob,knitting,2026-03-01\n"
    result = staff("training", "import", staff.csv("lms.csv", text), "--skip-invalid")
    assert result.code == 0
    assert result.err.startswith("lms.csv: line 3: unknown module 'knitting'")
    assert result.out == "lms.csv: 2 rows read, 1 imported, 0 already present, 1 skipped\n"
    assert [row[:2] for row in completions(engine)] == [("alice", "social-media-basics")]


def test_create_users_adds_the_unknown_ones(staff: Leeway, engine: Engine) -> None:
    text = HEADER + "alice,social-media-basics,2026-03-01\ncarol,social-media-basics,2026-03-01\n"
    path = staff.csv("lms.csv", text)
    out = staff.ok("training", "import", path, "--create-users")
    assert (
        out == "lms.csv: 2 rows read, 2 imported, 0 already present, 0 skipped, 1 users created\n"
    )
    assert [row[0] for row in completions(engine)] == ["alice", "carol"]
    assert count(engine, User) == 3
    again = staff.ok("training", "import", path, "--create-users")
    assert "0 imported, 2 already present, 0 skipped, 0 users created" in again


def test_a_large_import_spans_several_chunks(staff: Leeway, engine: Engine) -> None:
    lines = [f"u{n},social-media-basics,2026-01-01T00:00:{n % 60:02d}\n" for n in range(25_000)]
    path = staff.csv("big.csv", HEADER + "".join(lines))
    out = staff.ok("training", "import", path, "--create-users")
    assert out.startswith("big.csv: 25000 rows read, 25000 imported, 0 already present")
    assert count(engine, TrainingCompletion) == 25_000


def test_a_wrong_header_is_refused(staff: Leeway) -> None:
    result = staff("training", "import", staff.csv("lms.csv", "username,course,date\n"))
    assert result.code == 1
    assert result.err.startswith("lms.csv: line 1: bad header: missing 'module', 'completed_at'")


def test_record_adds_one_completion(staff: Leeway, engine: Engine) -> None:
    out = staff.ok(
        "training", "record", "alice", "social-media-basics", "--completed-at", "2026-03-01T10:00Z"
    )
    assert out == ("alice: social-media-basics completed at 2026-03-01T10:00:00+00:00: recorded\n")
    again = staff.ok(
        "training", "record", "alice", "social-media-basics", "--completed-at", "2026-03-01T10:00Z"
    )
    assert again.endswith(": already recorded\n")
    assert count(engine, TrainingCompletion) == 1


def test_record_defaults_to_now(staff: Leeway, engine: Engine) -> None:
    before = datetime.now(UTC)
    staff.ok("training", "record", "bob", "rich-media-awareness")
    [(_, _, when, source)] = completions(engine)
    assert before <= when <= datetime.now(UTC)
    assert source.startswith("leeway training record")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["carol", "social-media-basics"],
            "unknown user 'carol': add them with `leeway users add carol`",
        ),
        (["alice", "knitting"], "unknown module 'knitting' (known: rich-media-awareness, "),
        (["alice", "social-media-basics", "--completed-at", "2026-02-30"], "bad date '2026-02-30'"),
        (["alice", "social-media-basics", "--completed-at", "2999-01-01"], "is in the future"),
    ],
)
def test_record_refusals(staff: Leeway, engine: Engine, args: list[str], message: str) -> None:
    result = staff("training", "record", *args)
    assert result.code == 1
    assert message in result.err
    assert count(engine, TrainingCompletion) == 0


def test_a_bad_row_after_a_full_chunk_still_leaves_nothing_written(
    staff: Leeway, engine: Engine
) -> None:
    lines = [f"u{n},social-media-basics,2026-01-01\n" for n in range(21_000)]
    path = staff.csv("big.csv", HEADER + "".join(lines) + "u1,knitting,2026-01-01\n")
    result = staff("training", "import", path, "--create-users")
    assert result.code == 1
    assert result.err.startswith("big.csv: line 21002: unknown module 'knitting'")
    assert count(engine, TrainingCompletion) == 0
    assert count(engine, User) == 2


def test_a_byte_that_is_not_utf8_after_a_full_chunk_leaves_nothing_written(
    staff: Leeway, engine: Engine
) -> None:
    path = staff.folder / "big.csv"
    lines = "".join(f"u{n},social-media-basics,2026-01-01\n" for n in range(21_000))
    content = (HEADER + lines).encode() + b"j\xf6rg,social-media-basics,2026-01-01\n"
    path.write_bytes(content)
    result = staff("training", "import", str(path), "--create-users", "--skip-invalid")
    assert result.code == 1
    assert result.err.startswith(
        f"big.csv: line 21002: not UTF-8 text: byte 0xf6 at offset {content.index(b'\xf6')}"
    )
    assert count(engine, TrainingCompletion) == 0
    assert count(engine, User) == 2
