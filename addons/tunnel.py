"""Tunnels to categorised sites carry TLS or HTTP only, and a blocked tunnel reaches nothing.

mitmproxy relays bytes that are neither TLS nor HTTP as raw TCP, where no request hook
sees them: a VPN or SSH would reach a blocked site that way. A categorised destination
(CONNECT target or TLS SNI) that turns out raw is closed before its server connection is
opened, and a request to one asking to switch to a protocol other than WebSocket (which
mitmproxy would then relay raw) is refused. A CONNECT blocked for reading and for writing
is still intercepted, so that the block page can be shown inside it, but no server
connection is ever opened for it.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from mitmproxy import connection, http
from mitmproxy.proxy import commands, events, layer, server_hooks
from mitmproxy.proxy.layers import TCPLayer

from addons.context import Leeway, reference_id
from addons.respond import answer_plain
from addons.who import Who, who_of
from policy import Action, Request
from policy.domains import Match
from policy.hosts import InvalidHost

logger = logging.getLogger("leeway.tunnel")

type Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Blocked:
    """A CONNECT decided `block` for reading and for writing."""

    who: Who
    category: str | None
    reference: str


class Refused(layer.Layer):
    """Closes the client's connection on the first event; never opens the server's."""

    closed = False

    def _handle_event(self, event: events.Event) -> layer.CommandGenerator[None]:
        if self.closed:
            return
        self.closed = True
        if self.context.server.connected:  # `connection_strategy=eager` connected at CONNECT
            yield commands.CloseConnection(self.context.server)
        yield commands.CloseConnection(self.context.client)


def upgrade_of(headers: http.Headers) -> str | None:
    """The Upgrade header (its fields folded, as `headers.get` folds them), or None, from
    the raw fields: nearly every request has none, and a miss through the
    case-insensitive mapping costs a decoding of every field."""
    values = [value for name, value in headers.fields if name.lower() == b"upgrade"]
    if not values:
        return None
    return b", ".join(values).decode("utf-8", "surrogateescape")


def category_of(leeway: Leeway, name: str) -> tuple[bool, str | None]:
    """Whether `name` is decided by the policy, and its category. A name that is not a
    host counts as categorised (without a category): it is refused, never relayed."""
    known = leeway.policy.classify(name)
    if isinstance(known, Match):
        return True, known.category
    return isinstance(known, InvalidHost), None


class Tunnel:
    def __init__(self, leeway: Leeway, now: Callable[[], datetime] | None = None) -> None:
        self.leeway = leeway
        self.now = now or (lambda: datetime.now(UTC))
        # The blocked tunnels of each client connection, by target: an entry goes with
        # its connection (HTTP/2 may carry several CONNECTs on one).
        self._blocked: weakref.WeakKeyDictionary[connection.Client, dict[Address, Blocked]] = (
            weakref.WeakKeyDictionary()
        )

    async def http_connect(self, flow: http.HTTPFlow) -> None:
        # Without interception Gate decides the CONNECT and answers a block there.
        if not self.leeway.intercept or flow.response or flow.error:
            return
        categorised, category = category_of(self.leeway, flow.request.host)
        if not categorised:
            return
        who = who_of(flow)
        if await self._blocked_both_ways(who, flow.request.host):
            blocked = self._blocked.setdefault(flow.client_conn, {})
            blocked[(flow.request.host, flow.request.port)] = Blocked(who, category, reference_id())

    async def _blocked_both_ways(self, who: Who, host: str) -> bool:
        subject = await self.leeway.subject_for(who, host)
        now = self.now()
        read = self.leeway.policy.decide(subject, Request("GET", (host,)), now)
        if read.action is not Action.BLOCK:
            return False
        write = self.leeway.policy.decide(subject, Request("POST", (host,)), now)
        return write.action is Action.BLOCK

    def next_layer(self, data: layer.NextLayer) -> None:
        # Runs after mitmproxy's NextLayer: raw TCP is what it chose for unknown bytes.
        if not isinstance(data.layer, TCPLayer):
            return
        context = data.context
        found = self._categorised_name(context.client.sni, context.server.address)
        if found is None:
            return
        name, category = found
        blocked = self._blocked_tunnel(context.client, context.server.address)
        reference = blocked.reference if blocked is not None else reference_id()
        if data.layer in context.layers:
            context.layers.remove(data.layer)
        data.layer = Refused(context)
        self.leeway.observer.tunnel_refused(category, "raw")
        logger.warning(
            "ref %s: closed a tunnel to %s (category %s): its bytes are neither TLS nor HTTP,"
            " and a categorised site is never relayed raw",
            reference,
            name,
            category,
        )

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        # After Enforce: a request it let through may still ask to leave HTTP.
        if flow.response or flow.error:
            return
        upgrade = upgrade_of(flow.request.headers)
        if upgrade is None or upgrade.strip().lower() == "websocket":
            return
        names = (flow.request.pretty_host, flow.client_conn.sni)
        found = self._categorised_name(*names, (flow.request.host, flow.request.port))
        if found is None:
            return
        reference = reference_id()
        answer_plain(flow, 403, "This site is reached over HTTP and WebSocket only.", reference)
        self.leeway.observer.tunnel_refused(found[1], "upgrade")
        logger.warning(
            "ref %s: refused an upgrade of a request to %s to %r: the site would be relayed raw",
            reference,
            found[0],
            upgrade[:40],
        )

    def server_connect(self, data: server_hooks.ServerConnectionHookData) -> Awaitable[None] | None:
        # Synchronous for the connections of tunnels not blocked: nearly all of them.
        address = data.server.address
        blocked = self._blocked_tunnel(data.client, address)
        if blocked is None or address is None or data.server.error:
            return None
        return self._decide_again(data, blocked, address)

    async def _decide_again(
        self, data: server_hooks.ServerConnectionHookData, blocked: Blocked, address: Address
    ) -> None:
        # Decided again: training or a grant recorded since the CONNECT opens a tunnel
        # the browser keeps alive, as it opens the requests that Enforce decides inside it.
        if not await self._blocked_both_ways(blocked.who, address[0]):
            self._blocked.get(data.client, {}).pop((address[0], address[1]), None)
            return
        data.server.error = (
            f"Leeway: the tunnel to {address[0]} is blocked (reference {blocked.reference})"
        )
        self.leeway.observer.tunnel_refused(blocked.category, "blocked")
        logger.warning(
            "ref %s: refused a connection to %s from a tunnel blocked for reading and writing",
            blocked.reference,
            address[0],
        )

    def _categorised_name(self, *names: str | Address | None) -> tuple[str, str | None] | None:
        """The first categorised name of `names` (hosts, or addresses), and its category."""
        for each in names:
            name = each[0] if isinstance(each, tuple) else each
            if name:
                categorised, category = category_of(self.leeway, name)
                if categorised:
                    return name, category
        return None

    def _blocked_tunnel(self, client: connection.Client, address: Address | None) -> Blocked | None:
        tunnels = self._blocked.get(client)
        if tunnels is None or address is None:
            return None
        return tunnels.get((address[0], address[1]))
