"""Benchmark of the CSV imports: 100,000 users, then 1,000,000 training completions, into SQLite.

Run `python -m bench.imports [--users N] [--rows N] [--db-url URL]`; the target is one
million completions in under 60 seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from policy import load_policy
from proxy.cli import main as leeway

TARGET_SECONDS = 60.0


def write_users(path: Path, count: int) -> None:
    departments = ["Comms & Media", "Finance", "HR", "IT (Operations)", "Legal", ""]
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["username", "display_name", "department"])
        for n in range(count):
            writer.writerow([f"user{n:06d}", f"User {n}", departments[n % len(departments)]])


def write_training(path: Path, users: int, rows: int, modules: list[str], seed: int = 7) -> None:
    """`rows` completions spread over `users` users and the past two years."""
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    span = int(timedelta(days=700).total_seconds())
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["username", "module", "completed_at"])
        for n in range(rows):
            when = start + timedelta(seconds=rng.randrange(span))
            writer.writerow([f"user{n % users:06d}", rng.choice(modules), when.isoformat()])


def timed(label: str, argv: list[str], rows: int) -> float:
    """Run one `leeway` command in-process and print how long it took."""
    captured = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(captured):
        code = leeway(argv)
    seconds = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"{label}: leeway exited {code}")
    print(f"{label}: {seconds:.1f} s, {rows / seconds:,.0f} rows/s")
    print(f"  {captured.getvalue().strip()}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db-url", help="default: a fresh SQLite file in a temporary directory")
    parser.add_argument("--policy", type=Path, help="default: the bundled policy")
    args = parser.parse_args(argv)
    policy = load_policy(args.policy)
    modules = sorted(policy.modules)
    extra = [] if args.policy is None else ["--policy", str(args.policy)]
    with tempfile.TemporaryDirectory(prefix="leeway-bench-") as tmp:
        folder = Path(tmp)
        db_url = args.db_url or f"sqlite:///{folder / 'bench.db'}"
        users_csv, training_csv = folder / "users.csv", folder / "training.csv"
        started = time.perf_counter()
        write_users(users_csv, args.users)
        write_training(training_csv, args.users, args.rows, modules)
        generated = time.perf_counter() - started
        print(f"generated {args.users:,} users and {args.rows:,} completions in {generated:.1f} s")
        with contextlib.redirect_stdout(io.StringIO()):
            leeway(["db", "upgrade", "--db-url", db_url])
        timed("users import", ["users", "import", str(users_csv), "--db-url", db_url], args.users)
        command = ["training", "import", str(training_csv), "--db-url", db_url, *extra]
        seconds = timed("training import", command, args.rows)
        timed("training import again (all present)", command, args.rows)
    verdict = "within" if seconds < TARGET_SECONDS else "OVER"
    print(f"training import {verdict} the {TARGET_SECONDS:.0f} s target: {seconds:.1f} s")
    return 0 if seconds < TARGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
