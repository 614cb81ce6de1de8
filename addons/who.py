"""Who sent a flow, and the one record Leeway's addons hand each other about it.

Identity fills the record, Enforce adds its decision, Usage reads both: all under one
`flow.metadata` key, the way mitmproxy's own addons pass results on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mitmproxy import http

from policy import Decision

if TYPE_CHECKING:
    from addons.protocols import AddressLookup

METADATA_KEY = "leeway"


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


@dataclass(slots=True)
class FlowNotes:
    """What Leeway's addons know of one flow: who sent it (Identity), what was decided
    (Enforce) and whether Leeway answered it itself (Usage)."""

    who: Who
    decision: Decision | None = None
    answered: bool = False


def client_address(flow: http.HTTPFlow) -> str:
    return str(flow.client_conn.peername[0])


def by_address(addresses: AddressLookup, client: str) -> Who:
    """Who the client address map says `client` is; unidentified when it names nobody."""
    mapped = addresses.lookup(client)
    return Who(mapped, "address", client) if mapped else Who(None, "none", client)


def who_of(flow: http.HTTPFlow) -> Who:
    """Who sent `flow`, as Identity found it; an unidentified client when it did not run."""
    notes: FlowNotes | None = flow.metadata.get(METADATA_KEY)
    if notes is not None:
        return notes.who
    return Who(None, "none", client_address(flow))


def notes_of(flow: http.HTTPFlow) -> FlowNotes:
    """The record of `flow`, made (with `who_of`) when Identity did not make it."""
    notes: FlowNotes | None = flow.metadata.get(METADATA_KEY)
    if notes is None:
        notes = flow.metadata[METADATA_KEY] = FlowNotes(who_of(flow))
    return notes
