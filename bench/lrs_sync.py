"""Benchmark of `leeway training sync`: 100,000 xAPI statements from a real LRS into SQLite.

Run `python -m bench.lrs_sync [--statements N] [--page-size N]`. The statements (80%
completions for one user in five, the rest other verbs, failures and voidings) are POSTed
to a real Ralph (tests/lrs_server.py), then one sync reads them into a fresh SQLite store
with the users imported. The target: Leeway's own share (the sync's time not spent waiting
for the LRS's answers) under 30 seconds for 100,000 statements.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from policy import load_default_policy
from proxy.cli import main as leeway
from proxy.lrs.client import LrsClient
from proxy.lrs.sync import Syncer, Tally
from proxy.store.db import make_engine
from tests.lrs_server import COMPLETED, FAILED, PASSED, PASSWORD, USER, Ralph, statement, voiding

TARGET_SECONDS = 30.0
STATEMENTS_PER_USER = 5  # 100,000 statements: 20,000 users
OTHER_VERBS = (
    FAILED,
    "http://adlnet.gov/expapi/verbs/attempted",
    "http://adlnet.gov/expapi/verbs/experienced",
)
POST_BATCH = 5_000  # Ralph's file backend reads all it holds on each POST: few, large ones


def email(n: int) -> str:
    return f"user{n:05d}@example.org"


def write_users(path: Path, count: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["username", "display_name", "department", "email"])
        for n in range(count):
            writer.writerow([f"user{n:05d}", f"User {n}", "Comms & Media", email(n)])


def make_statements(count: int, users: int, activities: list[str], seed: int = 11) -> list[Any]:
    """80% completions, 8% other verbs, 6% unsuccessful, 6% voidings of earlier completions.

    Every voiding comes after the completion it voids, as an LMS would send it.
    """
    rng = random.Random(seed)
    voidings = count * 6 // 100
    unsuccessful = count * 6 // 100
    others = count * 8 // 100
    completions = count - voidings - unsuccessful - others

    def person() -> str:
        return email(rng.randrange(users))

    body = [
        statement(person(), rng.choice(activities), rng.choice((COMPLETED, PASSED)))
        for _ in range(completions)
    ]
    body += [
        statement(person(), rng.choice(activities), rng.choice(OTHER_VERBS)) for _ in range(others)
    ]
    body += [
        statement(person(), rng.choice(activities), result={"success": False})
        for _ in range(unsuccessful)
    ]
    rng.shuffle(body)
    counted = [i for i, s in enumerate(body) if _completes(s)]
    keyed = [(float(i), s) for i, s in enumerate(body)]
    keyed += [
        (rng.uniform(i + 0.5, len(body)), voiding(body[i]["id"]))
        for i in rng.sample(counted, voidings)
    ]
    keyed.sort(key=lambda pair: pair[0])
    return [s for _, s in keyed]


def _completes(statement: dict[str, Any]) -> bool:
    return statement["verb"]["id"] in (COMPLETED, PASSED) and "result" not in statement


def quiet(argv: list[str]) -> str:
    """Run one `leeway` command in-process; what it printed."""
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        code = leeway(argv)
    if code != 0:
        raise SystemExit(f"leeway {' '.join(argv[:2])}: exited {code}")
    return captured.getvalue().strip()


def timed_sync(label: str, syncer: Syncer) -> tuple[Tally, float]:
    """One sync, timed: wall time, and the share of it not spent waiting for the LRS."""
    started, cpu = time.perf_counter(), time.process_time()
    tally = syncer.run()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    own = wall - tally.waited
    rate = tally.read / wall if wall else 0.0
    print(
        f"{label}: {tally.read:,} statements in {wall:.1f} s ({rate:,.0f} statements/s):"
        f" {tally.waited:.1f} s waiting on the LRS, {own:.1f} s Leeway's own"
        f" (parse, match, write; {cpu:.1f} s of CPU)"
    )
    for line in tally.describe(syncer.client.url):
        print(f"  {line[:300]}")
    return tally, own


def post(ralph: Ralph, count: int, users: int, activities: list[str]) -> None:
    """Send the statements as an LMS would; they are not kept (the LMS is another program)."""
    started = time.perf_counter()
    ralph.post(make_statements(count, users, activities), batch=POST_BATCH)
    print(f"posted {count:,} statements to Ralph in {time.perf_counter() - started:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--statements", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=10_000, help="Ralph's and Leeway's")
    args = parser.parse_args(argv)
    users = max(1, args.statements // STATEMENTS_PER_USER)
    policy = load_default_policy()
    activities = sorted(policy.xapi_activities)
    with tempfile.TemporaryDirectory(prefix="leeway-bench-lrs-") as tmp:
        folder = Path(tmp)
        db_url = f"sqlite:///{folder / 'bench.db'}"
        quiet(["db", "upgrade", "--db-url", db_url])
        write_users(folder / "users.csv", users)
        print(quiet(["users", "import", str(folder / "users.csv"), "--db-url", db_url]))
        ralph = Ralph(folder / "ralph", page_size=args.page_size)
        ralph.directory.mkdir()
        ralph.setup()
        ralph.start()
        try:
            post(ralph, args.statements, users, activities)
            engine = make_engine(db_url)
            client = LrsClient(ralph.url, USER, PASSWORD, args.page_size)
            syncer = Syncer(engine, client, policy)
            tally, own = timed_sync(f"training sync (pages of {args.page_size:,})", syncer)
            timed_sync("training sync again (nothing new)", syncer)
            client.close()
            engine.dispose()
        finally:
            ralph.stop()
    target = TARGET_SECONDS * args.statements / 100_000
    verdict = "within" if own < target else "OVER"
    print(f"Leeway's own share {verdict} the {target:.0f} s target: {own:.1f} s")
    return 0 if own < target and tally.read == args.statements else 1


if __name__ == "__main__":
    raise SystemExit(main())
