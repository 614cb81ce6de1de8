"""Benchmark of `leeway users sync`: 20,000 people in 50 groups from a real slapd into SQLite.

Run `python -m bench.users_sync [--people N] [--groups N]`; the target is one sync into a
fresh SQLite database in under 30 seconds. The people are loaded into a private slapd with
slapadd (offline, fast); every group is mapped to a role, and the first group nests the next
four. The time is split into the directory's (inside ldap3's search calls: the server, the
network and ldap3 decoding the answers) and Leeway's own (mapping, groups, plan, store).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from proxy.commands import open_store
from proxy.directory.client import DirectoryClient, Endpoint
from proxy.directory.entries import attribute_map
from proxy.directory.sync import Outcome, Search, run_sync
from tests.ldif_people import Person, group_dn, group_ldif
from tests.slapd_server import BASE, SYNC_DN, SYNC_PASSWORD, Slapd

TARGET_SECONDS = 30.0
OU = f"ou=bench,{BASE}"
DEPARTMENTS = ("Communications", "Finance", "HR", "IT", "Legal", "Policy")


def directory_ldif(people: int, groups: int) -> str:
    """The OU, `people` people, and `groups` groups sharing them out (group 0 nests 1-4)."""
    entries = [
        f"dn: {OU}\nobjectClass: organizationalUnit\nou: bench\n",
        f"dn: ou=people,{OU}\nobjectClass: organizationalUnit\nou: people\n",
        f"dn: ou=groups,{OU}\nobjectClass: organizationalUnit\nou: groups\n",
    ]
    everyone = [
        Person(f"user{n:05d}", f"User {n}", DEPARTMENTS[n % len(DEPARTMENTS)], f"u{n}@example.org")
        for n in range(people)
    ]
    entries += [person.ldif(OU) for person in everyone]
    for g in range(groups):
        members = [p.dn(OU) for p in everyone[g::groups]]
        if g == 0:
            members += [group_dn(OU, f"g{nested:02d}") for nested in range(1, min(5, groups))]
        entries.append(group_ldif(OU, f"g{g:02d}", members))
    return "\n".join(entries)


def sync_once(slapd: Slapd, db_url: str, groups: int) -> tuple[float, Outcome, float]:
    """(wall seconds, the outcome, seconds inside ldap3's search calls) of one sync."""
    roles = ("manager", "comms-publisher")
    group_roles = tuple((group_dn(OU, f"g{g:02d}"), roles[g % 2]) for g in range(groups))
    search = Search(OU, "(objectClass=person)", attribute_map([]), group_roles, 1000)
    engine = open_store(db_url)
    try:
        started = time.perf_counter()
        with DirectoryClient(Endpoint(slapd.url, SYNC_DN, SYNC_PASSWORD, timeout=60)) as client:
            outcome = run_sync(engine, client, search, datetime.now(UTC))
        return time.perf_counter() - started, outcome, client.waited
    finally:
        engine.dispose()


def report(label: str, seconds: float, outcome: Outcome, directory: float) -> None:
    p = outcome.plan
    print(
        f"{label}: {seconds:.1f} s for {outcome.found:,} people: directory {directory:.1f} s,"
        f" Leeway {seconds - directory:.1f} s (store transaction {outcome.store_seconds:.1f} s);"
        f" {len(p.added):,} added, {p.unchanged:,} unchanged,"
        f" {len(p.grants_added):,} grants added"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--groups", type=int, default=50)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="leeway-bench-ldap-") as tmp:
        folder = Path(tmp)
        slapd = Slapd(folder / "slapd")
        started = time.perf_counter()
        slapd.setup()
        slapd.load_offline(directory_ldif(args.people, args.groups))
        slapd.start()
        print(
            f"loaded {args.people:,} people in {args.groups} groups into slapd with slapadd"
            f" in {time.perf_counter() - started:.1f} s"
        )
        try:
            db_url = f"sqlite:///{folder / 'bench.db'}"
            first = sync_once(slapd, db_url, args.groups)
            report("first sync (fresh SQLite)", *first)
            report("second sync (nothing changed)", *sync_once(slapd, db_url, args.groups))
        finally:
            slapd.stop()
    verdict = "met" if first[0] < TARGET_SECONDS else "MISSED"
    print(f"target: first sync under {TARGET_SECONDS:.0f} s: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
