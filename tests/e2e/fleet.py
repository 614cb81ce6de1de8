"""Two `leeway run` instances on one PostgreSQL database, and probes that ask both.

Their cache time limit is a minute, so a change that reaches both within PROPAGATION
was carried by the database's notifications, not by the time limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from proxy.cli import main as leeway
from tests.e2e.certs import OriginCerts
from tests.e2e.clients import XHR, client
from tests.e2e.conftest import CAST, PASSWORDS, Proxies
from tests.e2e.proxy_process import LeewayProcess
from tests.waiting import eventually

CACHE_TTL = 60.0  # seconds: far longer than a change may take to reach the fleet
PROPAGATION = 2.0  # seconds a command-line change may take to reach every instance
# tess has both social trainings but no role: she is reminded before posting, until granted.
FLEET_CAST = [
    *CAST,
    ["users", "add", "tess"],
    ["training", "record", "tess", "social-media-basics"],
    ["training", "record", "tess", "social-media-publishing"],
]


@dataclass
class Fleet:
    one: LeewayProcess
    two: LeewayProcess
    db_url: str

    @property
    def instances(self) -> tuple[LeewayProcess, LeewayProcess]:
        return (self.one, self.two)


def start_fleet(proxies: Proxies, htpasswd: Path) -> Fleet:
    """Two instances on `proxies`' database, with the same CA and logins; each has its
    own port, metrics port, confdir and audit journal."""
    env = {"LEEWAY_CACHE_TTL": str(CACHE_TTL)}
    one, two = (proxies.start("--proxyauth", f"@{htpasswd}", env=env) for _ in range(2))
    return Fleet(one, two, proxies.db_url)


def as_user(proxy: LeewayProcess, user: str, origin_certs: OriginCerts) -> httpx.Client:
    return client(proxy, origin_certs.ca, login=(user, PASSWORDS[user]))


class Probe:
    """One user's clients, one per instance, asking for one URL; `answers` says whether
    an instance gives the status expected."""

    def __init__(self, fleet: Fleet, user: str, origin_certs: OriginCerts, method: str, url: str):
        self.fleet = fleet
        self.method = method
        self.url = url
        self.clients = {p.port: as_user(p, user, origin_certs) for p in fleet.instances}

    def answers(self, proxy: LeewayProcess, status: int) -> bool:
        http = self.clients[proxy.port]
        return http.request(self.method, self.url, headers=XHR).status_code == status

    def change(self, command: list[str], before: int, after: int) -> float:
        """Check both instances answer `before` (so they cache it), run `command`, and
        return the seconds until both answer `after`."""
        assert all(self.answers(proxy, before) for proxy in self.fleet.instances)
        assert leeway([*command, "--db-url", self.fleet.db_url]) == 0
        took = first_time(self.fleet, lambda proxy: self.answers(proxy, after), PROPAGATION)
        print(f"`leeway {' '.join(command)}`: seen by both instances in {took * 1000:.0f} ms")
        return took

    def close(self) -> None:
        for http in self.clients.values():
            http.close()


def first_time(fleet: Fleet, check: Callable[[LeewayProcess], bool], within: float) -> float:
    """Seconds until `check` holds on every instance (each is asked until it does)."""
    started = time.monotonic()
    waiting = list(fleet.instances)

    def still_waiting() -> list[LeewayProcess]:
        nonlocal waiting
        waiting = [proxy for proxy in waiting if not check(proxy)]
        return waiting

    eventually(still_waiting, "on every instance", until=lambda left: not left, within=within)
    return time.monotonic() - started
