"""In-memory seams for the addon tests: entitlements, acknowledgements, the address map.

Small real classes that satisfy `addons.protocols`, plus builders for a
`Leeway` on the shared test policy and for mitmproxy flows as a proxy would see them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from mitmproxy import http
from mitmproxy.test import tflow, tutils
from prometheus_client import CollectorRegistry

from addons.context import Leeway, Network
from policy import Acknowledgement, Action, Grant, Policy, Subject, parse_policy
from proxy.metrics.proxy_metrics import Metrics
from proxy.runtime.recording import Recorder
from tests.policy.samples import NOW, TEST_POLICY

KEY = b"k" * 32
CLIENT = "10.0.0.5"


def sample_policy() -> Policy:
    return parse_policy(TEST_POLICY.encode(), source="test", label="policy.toml")


# Subjects at NOW under TEST_POLICY (social: publishers > trained > everyone).
TRAINED = Subject("tess", known=True, completions={"basics": (NOW - timedelta(days=30),)})
EXPIRING = Subject("eve", known=True, completions={"basics": (NOW - timedelta(days=360),)})
PUBLISHER = Subject(
    "pat",
    known=True,
    completions={"basics": (NOW - timedelta(days=30),), "publishing": (NOW - timedelta(days=30),)},
    grants=(Grant("comms-publisher", NOW - timedelta(days=1)),),
)


class DictEntitlements:
    """Subjects by username; `get` "loads" one and caches it.

    `degraded`: the store is down and nothing is cached, so `get` answers as the real
    cache does, with a degraded anonymous subject. `failure`: `get` raises it (a bug,
    against the protocol: `Leeway.subject_for` guards it).
    """

    def __init__(
        self,
        subjects: Mapping[str, Subject] | None = None,
        *,
        degraded: bool = False,
        failure: Exception | None = None,
    ) -> None:
        self.subjects = dict(subjects or {})
        self.degraded = degraded
        self.failure = failure
        self.loads: list[str] = []
        self._cached: dict[str, Subject] = {}

    def peek(self, username: str) -> Subject | None:
        return self._cached.get(username)

    async def get(self, username: str) -> Subject:
        self.loads.append(username)
        if self.failure is not None:
            raise self.failure
        if self.degraded:
            return Subject.anonymous(username, degraded=True)
        subject = self.subjects.get(username) or Subject.anonymous(username)
        self._cached[username] = subject
        return subject

    def add_acknowledgement(self, username: str, ack: Acknowledgement) -> None:
        """What the real writer does after recording: the user's next decision sees it."""
        subject = self.subjects.get(username) or Subject.anonymous(username)
        updated = replace(subject, acknowledgements=(*subject.acknowledgements, ack))
        self.subjects[username] = updated
        self._cached[username] = updated


@dataclass(frozen=True, slots=True)
class RecordedAck:
    username: str
    category: str
    now: datetime
    ttl: timedelta
    client_address: str | None


@dataclass
class RecordingAcknowledgements:
    """Records every call; passes the acknowledgement on to `entitlements` when given."""

    entitlements: DictEntitlements | None = None
    calls: list[RecordedAck] = field(default_factory=list)

    async def record(
        self,
        username: str,
        category: str,
        now: datetime,
        ttl: timedelta,
        client_address: str | None,
    ) -> Acknowledgement:
        self.calls.append(RecordedAck(username, category, now, ttl, client_address))
        ack = Acknowledgement(category, now, now + ttl)
        if self.entitlements is not None:
            self.entitlements.add_acknowledgement(username, ack)
        return ack


@dataclass
class DictAddresses:
    table: dict[str, str] = field(default_factory=dict)

    def lookup(self, address: str) -> str | None:
        return self.table.get(address)


def make_leeway(
    subjects: Mapping[str, Subject] | None = None,
    *,
    entitlements: DictEntitlements | None = None,
    addresses: Mapping[str, str] | None = None,
    intercept: bool = True,
    trusted_header: str | None = None,
    trusted_peers: tuple[Network, ...] = (),
    warn_without_intercept: Action = Action.BLOCK,
) -> Leeway:
    """A Leeway on the test policy with in-memory seams."""
    source = entitlements or DictEntitlements(subjects)
    return Leeway(
        policy=sample_policy(),
        entitlements=source,
        acknowledgements=RecordingAcknowledgements(source),
        addresses=DictAddresses(dict(addresses or {})),
        token_key=KEY,
        intercept=intercept,
        trusted_header=trusted_header,
        trusted_peers=trusted_peers,
        warn_without_intercept=warn_without_intercept,
    )


def request_flow(
    host: str,
    *,
    method: str = "GET",
    path: str = "/",
    headers: Mapping[str, str] | None = None,
    client: str = CLIENT,
    target: str | None = None,
    sni: str | None = None,
    content: bytes = b"",
) -> http.HTTPFlow:
    """A request for `host` (its Host header) as the proxy sees it.

    `target` is the CONNECT target the connection was opened for (the request's host
    inside a tunnel) and `sni` the TLS server name; both default to none (plain HTTP).
    """
    client_conn = tflow.tclient_conn()
    client_conn.peername = (client, 50123)
    client_conn.sni = sni
    pairs = [("Host", host), *(headers or {}).items()]
    if content:
        pairs.append(("Content-Length", str(len(content))))
    request = tutils.treq(
        host=target or host,
        port=443 if sni else 80,
        method=method.encode(),
        scheme=b"https" if sni else b"http",
        path=path.encode(),
        headers=http.Headers([(k.encode(), v.encode()) for k, v in pairs]),
        content=content,
    )
    return tflow.tflow(client_conn=client_conn, req=request)


def connect_flow(target: str, *, client: str = CLIENT, port: int = 443) -> http.HTTPFlow:
    """A CONNECT request for `target`."""
    client_conn = tflow.tclient_conn()
    client_conn.peername = (client, 50123)
    client_conn.sni = None
    request = http.Request(
        host=target,
        port=port,
        method=b"CONNECT",
        scheme=b"",
        authority=f"{target}:{port}".encode(),
        path=b"",
        http_version=b"HTTP/1.1",
        headers=http.Headers(),
        content=b"",
        trailers=None,
        timestamp_start=NOW.timestamp(),
        timestamp_end=NOW.timestamp(),
    )
    return tflow.tflow(client_conn=client_conn, req=request)


NAVIGATE = {"Sec-Fetch-Mode": "navigate", "Accept": "text/html"}


def count_decisions(leeway: Leeway) -> CollectorRegistry:
    """Record `leeway`'s decisions with the real recorder, on a fresh registry."""
    registry = CollectorRegistry()
    metrics = Metrics(registry, categories=tuple(leeway.policy.categories))
    leeway.observer = Recorder(metrics, None, "test")
    return registry


def counted(registry: CollectorRegistry, action: str, reason: str, category: str) -> float:
    """The value of `leeway_decisions_total` for these labels (0 when never counted)."""
    labels = {"action": action, "reason": reason, "category": category}
    return registry.get_sample_value("leeway_decisions_total", labels) or 0.0
