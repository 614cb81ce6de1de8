"""The seams between Leeway's addons and the rest of the proxy, as small protocols.

The addons never touch SQLAlchemy: they see entitlements, acknowledgements, the address
map, the records and the other processes through these; `proxy.runtime.serve` passes the real
ones and tests pass in-memory ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from addons.who import Who
from policy import Decision, Subject
from policy.subject import Acknowledgement


class Entitlements(Protocol):
    """A per-user cache: `peek` on the event loop, `get` loads off it on a miss.

    Neither raises: when the store cannot be read, `get` answers the fail mode's subject
    (no training, no roles) marked `degraded`. `Leeway.subject_for` still guards the
    boundary, so that a broken implementation cannot leave a request undecided.
    """

    def peek(self, username: str) -> Subject | None: ...
    async def get(self, username: str) -> Subject: ...
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


class RecordsUnavailable(Exception):
    """The store could not be read or written just now; the message says which and why."""


class RequestRefused(ValueError):
    """The store refused an access request (an unknown person, a bad justification)."""


class RequestRecord(Protocol):
    """One access request as the access page shows it."""

    @property
    def id(self) -> int: ...
    @property
    def category(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def justification(self) -> str: ...
    @property
    def state(self) -> str: ...  # pending, approved or denied
    @property
    def requested_at(self) -> datetime: ...
    @property
    def decided_at(self) -> datetime | None: ...
    @property
    def decision_reason(self) -> str | None: ...


class AccessRequests(Protocol):
    """A person's requests for a role, in the store (read and written off the event loop).
    Both raise `RecordsUnavailable` when the store cannot be reached; `ask` raises
    `RequestRefused` for what the store will not take."""

    async def of(self, username: str) -> Sequence[RequestRecord]:
        """`username`'s requests, newest first."""
        ...

    async def ask(
        self, username: str, category: str, role: str, justification: str, now: datetime
    ) -> tuple[bool, RequestRecord]:
        """A new pending request (True), or the one already pending (False)."""
        ...


class NoAccessRequests:
    """A proxy without a store of requests (tests): none to show, none taken."""

    async def of(self, username: str) -> Sequence[RequestRecord]:
        return ()

    async def ask(
        self, username: str, category: str, role: str, justification: str, now: datetime
    ) -> tuple[bool, RequestRecord]:
        raise RecordsUnavailable("this proxy keeps no access requests")


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
