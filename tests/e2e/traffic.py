"""Steady traffic through a fleet, in a thread per instance, while a test does something to
the database; every answer is kept, with when it came, to be checked afterwards.

Each round asks, through one instance: a trained user and an untrained one (both cached
before the traffic starts), an uncategorised site, and a visitor the proxy has never seen
(a new login each round), whose entitlements must be loaded from the store.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import httpx

from tests.e2e.certs import OriginCerts
from tests.e2e.clients import XHR, client
from tests.e2e.fleet import Fleet, as_user
from tests.e2e.proxy_process import LeewayProcess
from tests.e2e.records import Key

VISITORS = 600  # more than the rounds of a test: each visitor is new to both instances
PAUSE = 0.05  # seconds between rounds, so that the proxies are busy but not flooded


_visitors = itertools.count()
_visitors_lock = threading.Lock()


def visitor(number: int) -> tuple[str, str]:
    """The login of visitor `number`: a user in no store, untrained."""
    return f"visitor{number:03d}", f"visitor{number:03d}-secret"


def new_visitor() -> tuple[str, str]:
    """The login of a visitor no test asked for before (the last one, once all were)."""
    with _visitors_lock:
        return visitor(min(next(_visitors), VISITORS - 1))


def htpasswd_lines() -> list[str]:
    """htpasswd lines for every visitor (bcrypt of low cost: checks are fast)."""
    salt = bcrypt.gensalt(4)
    return [
        f"{name}:{bcrypt.hashpw(password.encode(), salt).decode()}\n"
        for name, password in map(visitor, range(VISITORS))
    ]


@dataclass(frozen=True)
class Answer:
    instance: int  # the instance's port
    user: str
    url: str
    at: float  # monotonic time the answer came
    status: int | None  # None: no answer, see `error`
    decision: str | None  # the x-leeway-decision header
    error: str | None = None


# What a user may be answered, whether the store is up or down (or in between).
SOCIAL = "category=social"
type Answers = set[tuple[int, str | None]]  # (status, the decision header)
ALLOWED: Answers = {(200, None)}
WARNED: Answers = {(403, f"warn; reason=rule_matched; {SOCIAL}")}
# A visitor is untrained: blocked from posting, by the rule or by the fail mode.
VISITOR: Answers = {
    (403, f"block; reason={why}; {SOCIAL}") for why in ("rule_matched", "store_unavailable")
}


class Traffic:
    """Rounds of requests through every instance of `fleet` until the block ends."""

    def __init__(self, fleet: Fleet, origin_certs: OriginCerts, origin_port: int) -> None:
        self.fleet = fleet
        self.origin_certs = origin_certs
        self.social = f"http://www.facebook.com:{origin_port}"
        self.plain = f"http://www.example.org:{origin_port}/"
        self.answers: list[Answer] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> Traffic:
        for proxy in self.fleet.instances:
            thread = threading.Thread(target=self._rounds, args=(proxy,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)  # a request times out after 10 s
        assert not any(t.is_alive() for t in self._threads), "traffic did not stop"

    def _rounds(self, proxy: LeewayProcess) -> None:
        with (
            as_user(proxy, "trina", self.origin_certs) as trina,
            as_user(proxy, "alice", self.origin_certs) as alice,
        ):
            while not self._stop.is_set():
                self._ask(proxy, "trina", trina, "GET", f"{self.social}/feed")
                self._ask(proxy, "alice", alice, "GET", f"{self.social}/feed")
                self._ask(proxy, "alice", alice, "GET", self.plain)
                self._ask_as_visitor(proxy)
                self._stop.wait(PAUSE)

    def _ask_as_visitor(self, proxy: LeewayProcess) -> None:
        name, password = new_visitor()
        with client(proxy, self.origin_certs.ca, login=(name, password)) as http:
            self._ask(proxy, name, http, "POST", f"{self.social}/status")

    def _ask(
        self, proxy: LeewayProcess, user: str, http: httpx.Client, method: str, url: str
    ) -> None:
        try:
            response = http.request(method, url, headers=XHR)
        except httpx.HTTPError as e:
            answer = Answer(proxy.port, user, url, time.monotonic(), None, None, repr(e))
        else:
            decision = response.headers.get("x-leeway-decision")
            answer = Answer(proxy.port, user, url, time.monotonic(), response.status_code, decision)
        with self._lock:
            self.answers.append(answer)

    def wrong(self) -> list[Answer]:
        """Answers no user should have had: errors, and decisions that are not theirs."""
        return [a for a in self.answers if (a.status, a.decision) not in expected(a)]

    def between(self, started: float, ended: float, proxy: LeewayProcess) -> int:
        """How many answers `proxy` gave between the two monotonic times."""
        return sum(1 for a in self.answers if a.instance == proxy.port and started <= a.at <= ended)

    def events(self) -> Counter[Key]:
        """The access events the categorised answers must have made, one each."""
        return Counter(event(a) for a in self.answers if a.url.startswith(self.social))


def expected(answer: Answer) -> Answers:
    if answer.user == "trina" or not answer.url.startswith("http://www.facebook.com"):
        return ALLOWED
    return WARNED if answer.user == "alice" else VISITOR


def event(answer: Answer) -> Key:
    if answer.decision is None:
        return ("decision", answer.user, "allow", "rule_matched")
    action, reason = answer.decision.split("; ")[:2]
    return ("decision", answer.user, action, reason.removeprefix("reason="))


def write_htpasswd(path: Path, base: Path) -> Path:
    """`base`'s logins and every visitor's, in `path`."""
    path.write_text(base.read_text() + "".join(htpasswd_lines()))
    return path
