"""`leeway training sync --follow` as a process: killed or interrupted mid-sync, the LRS gone.

The mid-sync tests ask for pages of one statement, so that a sync of many statements takes
many transactions: the follower is stopped once the store shows some of them applied but
not all, which is the moment a stop could lose or repeat one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from proxy.store.db import make_engine
from proxy.store.models import TrainingCompletion, XapiStatement
from proxy.store.xapi import read_cursor
from tests.lrs_server import PASSWORD, USER, free_port, statement
from tests.proxy.lrs.conftest import BASICS
from tests.proxy.lrs.metrics import Scrape, scrape
from tests.proxy.lrs.test_sync import add_users, completions
from tests.waiting import eventually

if TYPE_CHECKING:
    from pathlib import Path

    from proxy.store.xapi import Cursor
    from tests.lrs_server import Ralph

pytestmark = pytest.mark.process  # `leeway training sync` child processes

MANY = 120  # statements read one per page: a sync of them takes seconds, not milliseconds
LRS_ERRORS = ("leeway_lrs_errors_total", (("kind", "lrs"),))


def start_follower(lrs: Ralph, db_url: str, log: Path, *more: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "proxy.cli", "training", "sync", "--lrs", lrs.url]
    command += ["--lrs-user", USER, "--db-url", db_url, *more]
    env = {**os.environ, "LEEWAY_LRS_PASSWORD": PASSWORD}
    with log.open("ab") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)


def sync_once(lrs: Ralph, db_url: str, log: Path) -> str:
    """A one-shot sync from the stored cursor; what it printed."""
    mark = log.stat().st_size if log.exists() else 0
    again = start_follower(lrs, db_url, log)
    assert again.wait(timeout=120) == 0, log.read_text()
    return log.read_text()[mark:]


def counts(db_url: str) -> tuple[int, int]:
    """(completions, handled statements)."""
    engine = make_engine(db_url)
    with Session(engine) as session:
        done = session.scalar(select(func.count()).select_from(TrainingCompletion)) or 0
        handled = session.scalar(select(func.count()).select_from(XapiStatement)) or 0
    engine.dispose()
    return done, handled


def handled_ids(db_url: str) -> set[str]:
    engine = make_engine(db_url)
    with Session(engine) as session:
        ids = set(session.scalars(select(XapiStatement.statement_id)))
    engine.dispose()
    return ids


def cursor(db_url: str, lrs: Ralph) -> Cursor | None:
    engine = make_engine(db_url)
    with Session(engine) as session:
        found = read_cursor(session, lrs.url)
    engine.dispose()
    return found


def follow_many(lrs: Ralph, db_url: str, log: Path) -> tuple[subprocess.Popen[bytes], list[str]]:
    """A follower reading MANY new completions a page at a time, caught part-way: it and the
    statements' ids."""
    posted = [statement(email, BASICS) for email in add_users(db_url, MANY)]
    lrs.post(posted)
    follower = start_follower(lrs, db_url, log, "--follow", "--page-size", "1")
    eventually(
        lambda: counts(db_url)[0],
        "some statements applied, not all",
        until=lambda n: 0 < n < MANY,
        within=60,
    )
    return follower, [s["id"] for s in posted]


def test_a_follower_killed_mid_sync_resumes_and_applies_each_statement_once(
    lrs: Ralph, db_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "follower.log"
    follower, ids = follow_many(lrs, db_url, log)
    follower.kill()  # SIGKILL: no chance to finish the page
    follower.wait(timeout=10)
    partial, _ = counts(db_url)
    assert 0 < partial < MANY, "killed mid-sync"
    out = sync_once(lrs, db_url, log)
    assert f"{MANY - partial} completions recorded" in out
    assert counts(db_url) == (MANY, MANY)
    assert sorted(source for _, _, source in completions(db_url)) == sorted(
        f"xapi:{sid}" for sid in ids
    )


def test_sigint_stops_a_follower_mid_sync_after_its_page_with_the_cursor_saved(
    lrs: Ralph, db_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "follower.log"
    follower, ids = follow_many(lrs, db_url, log)
    follower.send_signal(signal.SIGINT)
    assert follower.wait(timeout=30) == 0, log.read_text()
    text = log.read_text()
    assert "SIGINT: stopping after the current page" in text
    assert "Traceback" not in text
    assert "interrupted" not in text  # not the command line's KeyboardInterrupt (exit 130)
    applied, handled = counts(db_url)
    assert 0 < applied < MANY, "stopped after its page, not at the end of the sync"
    assert applied == handled
    saved = cursor(db_url, lrs)
    assert saved is not None
    assert saved.ids and saved.ids <= handled_ids(db_url), "the cursor is at the last page"
    # The next sync reads from there: the cursor's statement again, then only the rest.
    out = sync_once(lrs, db_url, log)
    rest = MANY - applied
    assert f"{rest + len(saved.ids)} statements read: {rest} completions recorded" in out
    assert f"{len(saved.ids)} already handled" in out
    assert counts(db_url) == (MANY, MANY)
    assert handled_ids(db_url) == set(ids)


def test_the_lrs_stopped_during_follow_is_retried_and_nothing_is_lost(
    lrs: Ralph, db_url: str, tmp_path: Path
) -> None:
    first, second = add_users(db_url, 2)
    log = tmp_path / "follower.log"
    port = free_port()
    follower = start_follower(
        lrs, db_url, log, "--follow", "--every", "1s", "--metrics-port", str(port)
    )
    try:
        lrs.post([statement(first, BASICS)])
        eventually(lambda: counts(db_url)[0], "one statement applied", until=lambda n: n == 1)
        assert scrape(port)[LRS_ERRORS] == 0
        lrs.stop()
        try:
            eventually(
                log.read_text,
                "the follower logs the LRS unreachable",
                until=lambda text: "is unreachable" in text,
                within=30,
            )
            failing: Scrape = scrape(port)
        finally:
            lrs.start()
        assert failing[LRS_ERRORS] >= 1
        lrs.post([statement(second, BASICS)])
        eventually(
            lambda: counts(db_url)[0], "both statements applied", until=lambda n: n == 2, within=60
        )
        after = scrape(port)
        assert after[("leeway_lrs_statements_applied_total", (("kind", "completion"),))] == 2
        assert after[LRS_ERRORS] >= failing[LRS_ERRORS]
    finally:
        follower.send_signal(signal.SIGTERM)
        code = follower.wait(timeout=30)
    assert code == 0, log.read_text()
    assert "SIGTERM: stopping" in log.read_text()
    assert "Traceback" not in log.read_text()
    assert PASSWORD not in log.read_text()


def test_a_wrong_password_ends_the_follower_with_exit_1(
    lrs: Ralph, db_url: str, tmp_path: Path
) -> None:
    command = [sys.executable, "-m", "proxy.cli", "training", "sync", "--lrs", lrs.url]
    command += ["--lrs-user", USER, "--db-url", db_url, "--follow"]
    env = {**os.environ, "LEEWAY_LRS_PASSWORD": "wrong-password"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert f"LRS {lrs.url} refused user 'lms' (HTTP 401)" in done.stderr
    assert "wrong-password" not in done.stderr + done.stdout
