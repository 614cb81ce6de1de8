"""`leeway training sync --follow` as a process: killed mid-sync, the LRS gone, signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import TYPE_CHECKING

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from proxy.store.db import make_engine
from proxy.store.models import TrainingCompletion, XapiStatement
from tests.lrs_server import PASSWORD, USER, free_port, statement
from tests.proxy.lrs.conftest import BASICS
from tests.proxy.lrs.test_sync import add_users, completions
from tests.waiting import eventually

if TYPE_CHECKING:
    from pathlib import Path

    from tests.lrs_server import Ralph


def start_follower(lrs: Ralph, db_url: str, log: Path, *more: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "proxy.cli", "training", "sync", "--lrs", lrs.url]
    command += ["--lrs-user", USER, "--db-url", db_url, *more]
    env = {**os.environ, "LEEWAY_LRS_PASSWORD": PASSWORD}
    with log.open("ab") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)


def counts(db_url: str) -> tuple[int, int]:
    """(completions, handled statements)."""
    engine = make_engine(db_url)
    with Session(engine) as session:
        done = session.scalar(select(func.count()).select_from(TrainingCompletion)) or 0
        handled = session.scalar(select(func.count()).select_from(XapiStatement)) or 0
    engine.dispose()
    return done, handled


def test_a_follower_killed_mid_sync_resumes_and_applies_each_statement_once(
    lrs: Ralph, db_url: str, tmp_path: Path
) -> None:
    emails = add_users(db_url, 1500)
    lrs.post([statement(email, BASICS) for email in emails])
    log = tmp_path / "follower.log"
    follower = start_follower(lrs, db_url, log, "--follow", "--page-size", "100")
    partial = eventually(
        lambda: counts(db_url)[0], "some statements applied", until=lambda n: n > 0, within=60
    )
    follower.kill()  # SIGKILL: no chance to finish the page
    follower.wait(timeout=10)
    assert partial > 0
    again = start_follower(lrs, db_url, log)  # one-shot, from the stored cursor
    assert again.wait(timeout=120) == 0, log.read_text()
    assert counts(db_url) == (len(emails), len(emails))
    sources = [source for _, _, source in completions(db_url)]
    assert len(set(sources)) == len(emails)


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
        assert (
            eventually(
                lambda: counts(db_url)[0],
                "one statement applied",
                until=lambda n: n == 1,
                within=30,
            )
            == 1
        )
        lrs.stop()
        try:
            eventually(
                log.read_text,
                "the follower logs the LRS unreachable",
                until=lambda text: "is unreachable" in text,
                within=30,
            )
        finally:
            lrs.start()
        lrs.post([statement(second, BASICS)])
        assert (
            eventually(
                lambda: counts(db_url)[0],
                "both statements applied",
                until=lambda n: n == 2,
                within=60,
            )
            == 2
        )
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", trust_env=False).text
        assert 'leeway_lrs_errors_total{kind="lrs"}' in metrics
        errors = next(
            line
            for line in metrics.splitlines()
            if line.startswith('leeway_lrs_errors_total{kind="lrs"}')
        )
        assert float(errors.split()[-1]) >= 1
        assert 'leeway_lrs_statements_applied_total{kind="completion"} 2.0' in metrics
        assert "leeway_lrs_lag_seconds_count 2.0" in metrics
        assert "example.org" not in metrics  # no personal data in labels
    finally:
        follower.send_signal(signal.SIGTERM)
        code = follower.wait(timeout=30)
    assert code == 0, log.read_text()
    assert "SIGTERM: stopping" in log.read_text()
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
