"""`leeway run --proxyauth @htpasswd` (bcrypt) for 200 distinct users against the address map.

One proxy serves both kinds of client, 200 keep-alive connections of plain-HTTP GETs each:
requests that each sign in as the next of 200 users (bcrypt cost 8, every user signed in
once before measuring), and the same 200 users by the address map, each connecting from an
address of its own (127.0.1.N), so that both do the same entitlement work. Target (issue
12): the signed-in rate is at least 0.9 of the address map's. Order A B B A, 5 s each.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import bcrypt
import httpx

from bench.proxy import (
    LEEWAY_DESTINATIONS,
    Cell,
    Result,
    Running,
    combine,
    measure,
    start_isolated,
    start_origin,
)
from proxy.cli import main as leeway
from proxy.store.db import make_engine, session_factory
from proxy.store.people import assign_network, user_ids
from tests.e2e.certs import make_origin_certs
from tests.e2e.proxy_process import free_port

USERS = 200
# About 30 ms a check here (cost 10: 90 ms). Every user signs in before the measuring, and
# all of it must fit in a sign-in's fresh two minutes, or re-checks are measured too.
COST = 8
HOST = "www.facebook.com"  # categorised: decided on every request
CONCURRENCY = USERS  # a connection per user either way: the same entitlement work
TARGET = 0.90
KINDS = ("address map", "proxyauth")
# Where the address map's 200 users connect from, one each (loopback: 127.0.0.0/8 is ours).
ADDRESSES = [f"127.0.1.{n}" for n in range(USERS)]


def make_store(work: Path) -> str:
    """200 trained users (user000...), the n-th also at the n-th of ADDRESSES."""
    url = f"sqlite:///{work / 'leeway.db'}"
    users = work / "users.csv"
    users.write_text(
        "username,display_name,department\n"
        + "".join(f"user{n:03},User {n},Dept {n % 10}\n" for n in range(USERS))
    )
    training = work / "training.csv"
    training.write_text(
        "username,module,completed_at\n"
        + "".join(
            f"user{n:03},social-media-basics,2026-11-01T00:00:00+00:00\n" for n in range(USERS)
        )
    )
    commands = [
        ["db", "upgrade"],
        ["users", "import", str(users)],
        ["training", "import", str(training)],
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        for command in commands:
            if leeway([*command, "--db-url", url]) != 0:
                raise RuntimeError(f"leeway {' '.join(command)} failed")
    engine = make_engine(url)
    with session_factory(engine)() as session, session.begin():
        ids = user_ids(session)
        now = datetime.now(UTC)
        for n, address in enumerate(ADDRESSES):
            assign_network(session, ipaddress.ip_network(address), ids[f"user{n:03}"], now)
    engine.dispose()
    return url


def make_logins(work: Path) -> tuple[Path, Path]:
    """The htpasswd file (bcrypt) and the clients' user:password lines."""
    passwords = {f"user{n:03}": f"password-{n:03}" for n in range(USERS)}
    salt = bcrypt.gensalt(COST)
    htpasswd = work / "htpasswd"
    htpasswd.write_text(
        "".join(
            f"{user}:{bcrypt.hashpw(password.encode(), salt).decode()}\n"
            for user, password in passwords.items()
        )
    )
    logins = work / "logins"
    logins.write_text("".join(f"{user}:{password}\n" for user, password in passwords.items()))
    return htpasswd, logins


def start_proxy(work: Path, url: str, htpasswd: Path, ca: Path, started: list[Running]) -> Running:
    command = [sys.executable, "-m", "proxy.cli", "run", "--db-url", url]
    command += ["--listen-host", "127.0.0.1", "--listen-port", str(free_port())]
    command += ["--confdir", str(work / "confdir"), "--metrics-port", str(free_port())]
    command += ["--proxyauth", f"@{htpasswd}", *LEEWAY_DESTINATIONS]
    # 200 users at a few requests/s each: with the default 5 s, entitlement loads (the same
    # for both kinds of client) would be most of what is measured, not the sign-in.
    command += ["--cache-ttl", "60"]
    command += ["--set", f"ssl_verify_upstream_trusted_ca={ca}"]
    return start_isolated("leeway", command, work, started)


def run(proxy: Running, ports: dict[str, int], clients: tuple[str, Path], seconds: float) -> Result:
    """One measurement of `seconds`: each request signs in as the next user
    (`--logins-file`), or each client connects from its user's address."""
    cell = Cell("http", CONCURRENCY, HOST)
    extra = [clients[0], str(clients[1])]
    return measure(proxy, cell, ports, [], None, seconds=seconds, extra=extra)


def sign_everyone_in(proxy: Running, ports: dict[str, int], logins: Path) -> float:
    """Each user's first request (a bcrypt check each, in the proxy's threads), 8 at a time;
    the seconds it took. RuntimeError unless every one was let through."""
    url = f"http://{HOST}:{ports['http']}/"
    lines = logins.read_text().split()

    def first(line: str) -> int:
        user, password = line.split(":", 1)
        with httpx.Client(proxy=f"http://{user}:{password}@127.0.0.1:{proxy.port}") as http:
            return http.get(url, timeout=60).status_code

    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(first, lines))
    if set(statuses) != {200}:
        raise RuntimeError(f"first sign-ins answered {sorted(set(statuses))}")
    return time.perf_counter() - started


def bench(work: Path, started: list[Running]) -> None:
    certs = make_origin_certs(work, [HOST])
    ports = start_origin(certs, started)
    url = make_store(work)
    htpasswd, logins = make_logins(work)
    proxy = start_proxy(work, url, htpasswd, certs.ca, started)
    warm = sign_everyone_in(proxy, ports, logins)
    addresses = work / "addresses"
    addresses.write_text("\n".join(ADDRESSES) + "\n")
    clients = {
        "address map": ("--local-addresses-file", addresses),
        "proxyauth": ("--logins-file", logins),
    }
    halves: dict[str, list[Result]] = {kind: [] for kind in KINDS}
    for kind in (*KINDS, *reversed(KINDS)):
        halves[kind].append(run(proxy, ports, clients[kind], 5.0))
    results = {kind: combine(parts) for kind, parts in halves.items()}
    print_results(warm, results)


def print_results(warm: float, results: dict[str, Result]) -> None:
    print(
        f"proxyauth throughput: {USERS} users in an htpasswd file (bcrypt cost {COST}), plain"
        f" HTTP keep-alive GETs to {HOST}, {CONCURRENCY} clients, 10 s a kind (A B B A);"
        f" address map: the same {USERS} users, each connecting from an address of its own"
    )
    print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"  every user's first sign-in (bcrypt, 8 clients at a time): {warm:.1f} s for {USERS}")
    for kind in KINDS:
        result = results[kind]
        odd = {k: v for k, v in result.get("statuses", {}).items() if k != "200"}
        extra = f"  non-200 {odd}" if odd else ""
        print(
            f"  {kind:<12} {result.get('rate', 0):>7.0f} requests/s  p50"
            f" {result.get('p50_ms', 0):.1f} ms  p99 {result.get('p99_ms', 0):.1f} ms"
            f"  proxy CPU {result.get('cpu_us', 0):.0f} µs/request{extra}"
        )
    base = results["address map"].get("rate", 0.0)
    ratio = results["proxyauth"].get("rate", 0.0) / base if base else 0.0
    verdict = "meets" if ratio >= TARGET else "MISSES"
    print(f"  ratio proxyauth / address map: {ratio:.2f}  {verdict} the target {TARGET:.2f}")
    cpu = results["proxyauth"].get("cpu_us", 0.0)
    by_cpu = results["address map"].get("cpu_us", 0.0) / cpu if cpu else 0.0
    print(
        f"  by the proxy's CPU per request (what a proxy bound by its own core gets): {by_cpu:.2f}"
    )


def main() -> None:
    started: list[Running] = []
    with tempfile.TemporaryDirectory(prefix="leeway-bench-proxyauth-") as tmp:
        try:
            bench(Path(tmp), started)
        except RuntimeError as e:
            print(f"proxyauth benchmark did not run: {e}")
        finally:
            for running in reversed(started):
                running.stop()


if __name__ == "__main__":
    main()
