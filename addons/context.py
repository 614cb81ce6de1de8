"""What Leeway's addons share: the current policy and the seams to the store.

The addons never touch SQLAlchemy: they see entitlements, acknowledgements and the
address map through the small protocols here; `proxy.runtime.serve` passes the real ones and
tests pass in-memory ones.
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from policy import Action, Decision, Policy, Reason, Request, Subject
from policy.destinations import DestinationRules
from policy.subject import Acknowledgement

METADATA_KEY = "leeway"
DECISION_HEADER = "X-Leeway-Decision"
CONTINUE_PATH = "/.well-known/leeway/continue"
DECISION_KEY = "leeway.decision"
# Unidentified client addresses whose Continues are kept (a busy office's guest network).
MAX_ANONYMOUS = 16_384

type Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Lookup(Protocol):
    @property
    def subject(self) -> Subject: ...
    @property
    def degraded(self) -> bool: ...


class Entitlements(Protocol):
    """A per-user cache: `peek` on the event loop, `get` loads off it on a miss."""

    def peek(self, username: str) -> Subject | None: ...
    async def get(self, username: str) -> Lookup: ...
    def add_acknowledgement(self, username: str, ack: Acknowledgement) -> None: ...


class AcknowledgementRecorder(Protocol):
    async def record(
        self,
        username: str,
        category: str,
        now: datetime,
        ttl: timedelta,
        client_address: str | None,
    ) -> Acknowledgement: ...


class AddressLookup(Protocol):
    def lookup(self, address: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Who:
    """Who sent a request. `principal` binds Continue tokens: the username, or the
    client address for someone the proxy cannot identify."""

    username: str | None
    via: str  # proxyauth, header, address or none
    client: str

    @property
    def principal(self) -> str:
        return self.username if self.username is not None else f"addr:{self.client}"


class Observer(Protocol):
    """Receives what happened, for metrics and the audit trail; must never block."""

    def decided(
        self, decision: Decision, who: Who, subject: Subject, seconds: float, now: datetime
    ) -> None: ...

    def acknowledged(
        self, who: Who, subject: Subject | None, category: str, host: str, now: datetime
    ) -> None: ...

    def transferred(self, category: str | None, direction: str, size: int) -> None: ...

    def tunnel_refused(self, category: str | None, reason: str) -> None: ...


class Siblings(Protocol):
    """The other processes of this proxy (`leeway run --workers N`), told of each Continue:
    their caches, and the Continues of unidentified clients, are their own."""

    def acknowledged(self, username: str | None, principal: str, ack: Acknowledgement) -> None: ...


class NoSiblings:
    """A proxy that runs as one process."""

    def acknowledged(self, username: str | None, principal: str, ack: Acknowledgement) -> None:
        return None


class Nobody:
    """An observer that keeps nothing (tests, and a proxy run without records)."""

    def decided(
        self, decision: Decision, who: Who, subject: Subject, seconds: float, now: datetime
    ) -> None:
        return None

    def acknowledged(
        self, who: Who, subject: Subject | None, category: str, host: str, now: datetime
    ) -> None:
        return None

    def transferred(self, category: str | None, direction: str, size: int) -> None:
        return None

    def tunnel_refused(self, category: str | None, reason: str) -> None:
        return None


@dataclass
class Leeway:
    """The running proxy's shared state. `policy` is swapped whole on a reload."""

    policy: Policy
    entitlements: Entitlements
    acknowledgements: AcknowledgementRecorder
    addresses: AddressLookup
    token_key: bytes
    intercept: bool = True
    trusted_header: str | None = None
    trusted_peers: tuple[Network, ...] = ()
    warn_without_intercept: Action = Action.BLOCK
    anonymous_acks: dict[str, list[Acknowledgement]] = field(default_factory=dict)
    observer: Observer = field(default_factory=Nobody)
    # Leeway's own endpoints (the /metrics server): never reachable through the proxy.
    own_endpoints: frozenset[tuple[str, int]] = frozenset()
    siblings: Siblings = field(default_factory=NoSiblings)
    # Where the proxy never forwards (its own host, loopback, link-local, other ports).
    destinations: DestinationRules = field(default_factory=DestinationRules)

    def is_own_endpoint(self, host: str, port: int) -> bool:
        if not self.own_endpoints:
            return False
        name = host.lower().strip("[]")
        if name == "localhost" or name.startswith("127.") or name == "::1":
            name = "loopback"
        return (name, port) in self.own_endpoints

    async def subject_for(self, who: Who) -> tuple[Subject, bool]:
        """The entitlements of `who` (anonymous ones carry their in-memory Continues)."""
        if who.username is None:
            acks = tuple(self.anonymous_acks.get(who.principal, ()))
            return Subject(None, acknowledgements=acks), False
        cached = self.entitlements.peek(who.username)
        if cached is not None:
            return cached, False
        lookup = await self.entitlements.get(who.username)
        return lookup.subject, lookup.degraded

    def decide(self, subject: Subject, request: Request, now: datetime, degraded: bool) -> Decision:
        decision = self.policy.decide(subject, request, now)
        if degraded and decision.category is not None:
            return decision._replace(reason=Reason.STORE_UNAVAILABLE)
        return decision

    def remember_anonymous(self, principal: str, ack: Acknowledgement, now: datetime) -> None:
        """Continues of unidentified clients live in memory only, keyed by address: the
        latest one per category, for the addresses that clicked most recently."""
        kept = self.anonymous_acks.pop(principal, ())
        live = [a for a in kept if a.expires_at > now and a.category != ack.category]
        self.anonymous_acks[principal] = [*live, ack]
        self._forget_anonymous(now)

    def _forget_anonymous(self, now: datetime) -> None:
        """Drop the addresses whose Continues have all expired, oldest click first (the
        dict is in click order), and the oldest beyond MAX_ANONYMOUS: addresses that
        never come back must not stay for the life of the process."""
        acks = self.anonymous_acks
        while len(acks) > MAX_ANONYMOUS:
            del acks[next(iter(acks))]
        while acks:
            oldest = next(iter(acks))
            if any(a.expires_at > now for a in acks[oldest]):
                return
            del acks[oldest]

    def sibling_acknowledged(
        self, username: str | None, principal: str, ack: Acknowledgement, now: datetime
    ) -> None:
        """Honour a Continue made through another process of this proxy (already stored)."""
        if username is None:
            self.remember_anonymous(principal, ack, now)
        else:
            self.entitlements.add_acknowledgement(username, ack)


def reference_id() -> str:
    """A short id that ties a page a person saw to the proxy's log line."""
    return secrets.token_hex(4).upper()
