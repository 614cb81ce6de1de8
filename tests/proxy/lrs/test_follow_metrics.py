"""The follower's metrics on `--metrics-port`, after a known set of statements.

Three completions, one statement of another verb and one of an unknown actor: read 5,
applied 3, skipped 1 `other_verb` and 1 `unknown_actor`, three lags each from the
statement's `stored` time in the LRS to the sync that applied it. No label names a
person, an activity or a statement.
"""

from __future__ import annotations

import signal
import time
import uuid
from datetime import datetime
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.lrs_server import FAILED, PASSWORD, USER, free_port, statement
from tests.proxy.lrs.conftest import BASICS, PUBLISHING
from tests.proxy.lrs.metrics import metrics_text, samples, scrape, scrape_if_up
from tests.proxy.lrs.test_follow import start_follower
from tests.proxy.lrs.test_sync import add_users
from tests.waiting import eventually

if TYPE_CHECKING:
    from pathlib import Path

    from tests.lrs_server import Ralph

pytestmark = pytest.mark.process  # a `leeway training sync --follow` child process

EVERY = 4.0  # seconds between syncs: the statements wait at least this long, less the POST
READ = ("leeway_lrs_statements_read_total", ())
LAST_SUCCESS = ("leeway_lrs_last_success_timestamp_seconds", ())


def skipped(reason: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return ("leeway_lrs_statements_skipped_total", (("reason", reason),))


def stored_times(lrs: Ralph, ids: list[str]) -> list[float]:
    """Each statement's `stored` time, as the LRS gives it, in seconds since the epoch."""
    with httpx.Client(
        auth=(USER, PASSWORD), headers={"X-Experience-API-Version": "1.0.3"}, trust_env=False
    ) as http:
        answers = [
            http.get(f"{lrs.url}/statements", params={"statementId": sid}).json() for sid in ids
        ]
    # Ralph answers a statement result even for one id (xAPI says the statement itself).
    found = [a["statements"][0] if "statements" in a else a for a in answers]
    assert [s["id"] for s in found] == ids
    return [datetime.fromisoformat(s["stored"]).timestamp() for s in found]


def test_the_followers_metrics_count_reads_applications_skips_and_lag(
    lrs: Ralph, db_url: str, tmp_path: Path
) -> None:
    known = add_users(db_url, 3)
    stranger = f"stranger-{uuid.uuid4().hex[:8]}@example.org"
    completed = [statement(email, BASICS) for email in known]
    others = [statement(known[0], PUBLISHING, FAILED), statement(stranger, BASICS)]
    port = free_port()
    log = tmp_path / "follower.log"
    every = f"{EVERY:g}s"
    follower = start_follower(
        lrs, db_url, log, "--follow", "--every", every, "--metrics-port", str(port)
    )
    try:
        first = eventually(
            lambda: scrape_if_up(port),
            "the follower's first sync (nothing new) done",
            until=lambda m: m.get(LAST_SUCCESS, 0) > 0,
            within=30,
        )
        assert first[READ] == 0
        lrs.post([*completed, *others])
        after = eventually(
            lambda: scrape(port), "five statements read", until=lambda m: m[READ] >= 5, within=30
        )
        seen_at = time.time()
        text = metrics_text(port)
    finally:
        follower.send_signal(signal.SIGTERM)
        assert follower.wait(timeout=30) == 0, log.read_text()
    assert after[READ] == 5
    assert after[("leeway_lrs_statements_applied_total", (("kind", "completion"),))] == 3
    assert after[("leeway_lrs_statements_applied_total", (("kind", "voiding"),))] == 0
    assert after[skipped("other_verb")] == 1
    assert after[skipped("unknown_actor")] == 1
    for reason in ("not_successful", "unknown_activity", "malformed", "already"):
        assert after[skipped(reason)] == 0, reason
    assert after[("leeway_lrs_errors_total", (("kind", "lrs"),))] == 0
    # The lag: each completion was applied by a sync that started at least EVERY after the
    # first one ended, and before it was seen here; its lag is that moment less its `stored`.
    assert after[("leeway_lrs_lag_seconds_count", ())] == 3
    stored = stored_times(lrs, [s["id"] for s in completed])
    earliest = sum(first[LAST_SUCCESS] + EVERY - t for t in stored)
    latest = sum(seen_at - t for t in stored)
    assert earliest <= after[("leeway_lrs_lag_seconds_sum", ())] <= latest
    # No personal data: labels from closed sets only, and no address, IRI or id anywhere.
    assert {name for _, labels in samples(text) for name, _ in labels} <= {"kind", "reason", "le"}
    for private in ("example.org", "mailto", *(s["id"] for s in [*completed, *others])):
        assert private not in text
    for email in known:
        assert email.split("@")[0] not in text
