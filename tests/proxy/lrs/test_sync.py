"""`leeway training sync` against a real Ralph LRS, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from proxy.store.db import make_engine
from proxy.store.models import TrainingCompletion, User, XapiStatement
from tests.lrs_server import (
    FAILED,
    LEARNER,
    LEARNER_PASSWORD,
    LMS,
    PAGE_SIZE,
    PASSED,
    PASSWORD,
    USER,
    statement,
    voiding,
)
from tests.proxy.lrs.conftest import BASICS, PUBLISHING

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

    from tests.lrs_server import Ralph
    from tests.proxy.cli_support import Leeway, Result


def sync(leeway: Leeway, lrs: Ralph, *more: str) -> Result:
    return leeway("training", "sync", "--lrs", lrs.url, "--lrs-user", USER, *more)


def completions(db_url: str) -> list[tuple[str, str, str]]:
    """(username, module, source) of every completion."""
    engine = make_engine(db_url)
    with Session(engine) as session:
        rows = session.execute(
            select(User.username, TrainingCompletion.module, TrainingCompletion.source)
            .join(User, User.id == TrainingCompletion.user_id)
            .order_by(User.username, TrainingCompletion.module)
        ).all()
    engine.dispose()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def add_users(db_url: str, count: int) -> list[str]:
    """Users with addresses of their own (the session's LRS has other tests' statements too);
    their addresses."""
    tag = uuid.uuid4().hex[:8]
    names = [f"u{tag}-{i:04}" for i in range(count)]
    engine = make_engine(db_url)
    now = datetime.now(UTC)
    with Session(engine) as session, session.begin():
        session.add_all(User(username=n, email=f"{n}@example.org", created_at=now) for n in names)
    engine.dispose()
    return [f"{n}@example.org" for n in names]


def test_a_completed_statement_is_recorded_with_its_source(
    leeway: Leeway, lrs: Ralph, db_url: str, password_env: None
) -> None:
    leeway.ok("users", "add", "ana", "--email", "Ana@Example.org")
    completed = statement("ANA@example.org", BASICS)
    passed = statement("ana@example.org", PUBLISHING, PASSED)
    lrs.post([completed, passed])
    result = sync(leeway, lrs)
    assert result.code == 0, result.err
    assert "2 completions recorded" in result.out
    assert completions(db_url) == [
        ("ana", "social-media-basics", f"xapi:{completed['id']}"),
        ("ana", "social-media-publishing", f"xapi:{passed['id']}"),
    ]
    explained = leeway.ok("explain", "ana", "www.facebook.com")
    assert "social-media-basics completed " in explained
    assert f"(xapi:{completed['id']})" in explained
    document = json.loads(leeway.ok("explain", "ana", "www.facebook.com", "--json"))
    assert {"module": "social-media-publishing", "source": f"xapi:{passed['id']}"}.items() <= {
        **document["training"][1]
    }.items()


def test_failures_and_unsuccessful_statements_change_nothing(
    leeway: Leeway, lrs: Ralph, db_url: str, password_env: None
) -> None:
    leeway.ok("users", "add", "bo", "--email", "bo@example.org")
    lrs.post(
        [
            statement("bo@example.org", BASICS, FAILED),
            statement("bo@example.org", BASICS, result={"success": False}),
            statement("bo@example.org", BASICS, PASSED, result={"completion": False}),
        ]
    )
    result = sync(leeway, lrs)
    assert result.code == 0, result.err
    assert "0 completions recorded" in result.out
    assert "(2 not_successful, 1 other_verb)" in result.out
    assert completions(db_url) == []


def test_a_voided_statement_takes_the_completion_back(
    leeway: Leeway, lrs: Ralph, db_url: str, password_env: None
) -> None:
    leeway.ok("users", "add", "cy", "--email", "cy@example.org")
    completed = statement("cy@example.org", BASICS)
    lrs.post([completed])
    assert sync(leeway, lrs).code == 0
    assert len(completions(db_url)) == 1
    lrs.post([voiding(completed["id"])])
    result = sync(leeway, lrs)
    assert "1 voidings (1 completions taken back)" in result.out
    assert completions(db_url) == []
    # Read again from the start: the voided statement does not come back.
    assert sync(leeway, lrs, "--from-start").code == 0
    assert completions(db_url) == []


def test_a_voiding_read_before_its_statement_wins(
    leeway: Leeway, lrs: Ralph, db_url: str, password_env: None
) -> None:
    leeway.ok("users", "add", "di", "--email", "di@example.org")
    completed = statement("di@example.org", BASICS)
    lrs.post([voiding(completed["id"]), completed])
    result = sync(leeway, lrs)
    assert result.code == 0, result.err
    assert completions(db_url) == []


def test_unknown_actors_and_activities_are_reported(
    leeway: Leeway, lrs: Ralph, db_url: str, password_env: None
) -> None:
    ed = f"ed-{uuid.uuid4().hex[:8]}"  # the session's LRS has the other backend's statements
    leeway.ok("users", "add", ed, "--email", f"{ed}@example.org")
    strangers = [statement(f"stranger{i:02}@example.org", BASICS) for i in range(25)]
    other_course = statement(f"{ed}@example.org", "https://learning.example.org/courses/knitting")
    account = statement(
        None, BASICS, actor={"account": {"homePage": "https://sso.example.org", "name": ed}}
    )
    lrs.post([*strangers, other_course, account])  # Ralph refuses malformed ones itself
    result = sync(leeway, lrs)
    assert result.code == 0, result.err
    assert "1 unknown_activity" in result.out
    assert "26 unknown_actor" in result.out
    line = next(x for x in result.out.splitlines() if "actors have no user" in x)
    assert line.startswith("26 actors have no user")
    assert "mailto:stranger00@example.org" in line
    assert "mailto:stranger19@example.org" in line
    assert "mailto:stranger20@example.org" not in line
    assert line.endswith("and 6 more")
    assert completions(db_url) == []
    # With the home page configured, the account names a user.
    result = sync(leeway, lrs, "--from-start", "--account-home-page", "https://sso.example.org")
    assert result.code == 0, result.err
    assert completions(db_url) == [(ed, "social-media-basics", f"xapi:{account['id']}")]


def test_more_statements_than_a_page_are_all_read(
    leeway: Leeway, lrs: Ralph, db_url: str, password_env: None
) -> None:
    emails = add_users(db_url, PAGE_SIZE * 2 + 50)
    lrs.post([statement(email, BASICS) for email in emails])
    result = sync(leeway, lrs)
    assert result.code == 0, result.err
    assert f"{len(emails)} completions recorded" in result.out
    assert len(completions(db_url)) == len(emails)


def test_reading_the_same_statements_again_changes_nothing(
    leeway: Leeway, lrs: Ralph, db_url: str, password_env: None
) -> None:
    emails = add_users(db_url, 30)
    lrs.post([statement(email, BASICS) for email in emails])
    assert sync(leeway, lrs).code == 0
    before = completions(db_url)
    again = sync(leeway, lrs)
    assert "0 completions recorded" in again.out
    from_start = sync(leeway, lrs, "--from-start")
    assert "0 completions recorded" in from_start.out
    assert "30 already handled" in from_start.out
    assert completions(db_url) == before


def test_two_syncs_at_once_apply_each_statement_once(
    lrs: Ralph, db_url: str, password_env: None
) -> None:
    emails = add_users(db_url, PAGE_SIZE * 3)
    lrs.post([statement(email, BASICS) for email in emails])
    command = [sys.executable, "-m", "proxy.cli", "training", "sync", "--lrs", lrs.url]
    command += ["--lrs-user", USER, "--db-url", db_url]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0]
    recorded = [int(re.findall(r"(\d+) completions recorded", out)[0]) for out in outputs]
    assert sum(recorded) == len(emails)  # each counted by the one that applied it
    engine = make_engine(db_url)
    with Session(engine) as session:
        handled = session.scalars(select(XapiStatement.statement_id)).all()
    engine.dispose()
    assert len(completions(db_url)) == len(emails) == len(handled)


def test_a_wrong_password_is_refused_clearly(
    leeway: Leeway, lrs: Ralph, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEEWAY_LRS_PASSWORD", "not-the-password")
    result = sync(leeway, lrs)
    assert result.code == 1
    assert f"LRS {lrs.url} refused user 'lms' (HTTP 401)" in result.err
    assert "not-the-password" not in result.err + result.out


def test_the_password_is_read_from_a_file(
    leeway: Leeway, lrs: Ralph, db_url: str, tmp_path: Path
) -> None:
    leeway.ok("users", "add", "fi", "--email", "fi@example.org")
    secret = tmp_path / "lrs-password"
    secret.write_text(f"{PASSWORD}\n", encoding="utf-8")
    lrs.post([statement("fi@example.org", BASICS)])
    result = sync(leeway, lrs, "--lrs-password-file", str(secret))
    assert result.code == 0, result.err
    assert PASSWORD not in result.out + result.err
    assert len(completions(db_url)) == 1


def test_there_is_no_password_option(leeway: Leeway, lrs: Ralph) -> None:
    result = sync(leeway, lrs, "--lrs-password", PASSWORD)
    assert result.code == 2


def test_with_trusted_authorities_a_learners_own_statements_count_for_nothing(
    leeway: Leeway, lrs: Ralph, db_url: str, password_env: None
) -> None:
    """A learner's credentials (a cmi5 course running in the browser has them) could claim
    any completion, and void the LMS's: with `--lrs-authority`, only the LMS's count."""
    leeway.ok("users", "add", "dee", "--email", "dee@example.org")
    from_the_lms = statement("dee@example.org", BASICS)
    lrs.post([from_the_lms])
    forged = statement("dee@example.org", PUBLISHING)
    lrs.post([forged, voiding(from_the_lms["id"])], account=(LEARNER, LEARNER_PASSWORD))
    result = sync(leeway, lrs, "--lrs-authority", LMS)
    assert result.code == 0, result.err
    assert "1 completions recorded" in result.out
    assert "(2 untrusted_authority)" in result.out
    assert completions(db_url) == [("dee", "social-media-basics", f"xapi:{from_the_lms['id']}")]


def test_a_malformed_authority_is_refused_naming_the_option(
    leeway: Leeway, lrs: Ralph, password_env: None
) -> None:
    result = sync(leeway, lrs, "--lrs-authority", "lms@example.org")
    assert result.code == 1
    assert "--lrs-authority (LEEWAY_LRS_AUTHORITY)" in result.err
    assert "expected mailto:ADDRESS or account:NAME@HOMEPAGE" in result.err
