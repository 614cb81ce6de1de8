"""The proxy is not a way in: refuse destinations on its own host, loopback, link-local.

Checked three times, because a name can change its answer (DNS rebinding): at CONNECT and
on each request's headers (a 403 the client can read), when mitmproxy is about to connect
(the name resolved again; the connection killed), and once it has connected (the peer's
actual address; the connection aborted before a byte is sent). TLS tunnels passed through
and raw TCP never make a request, so only the last two guard them. The names the proxy
answers itself (the access page, mitm.it) are never resolved for a request, and the access
page's is never connected to (its CONNECT is answered here, at any port).
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import logging
import math
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

from mitmproxy import ctx, http
from mitmproxy.proxy import server_hooks

from addons.context import Leeway, reference_id
from addons.respond import answer_plain
from policy.destinations import Address, Refusal, literal_address

logger = logging.getLogger("leeway.destinations")

type Resolve = Callable[[str, int], Awaitable[tuple[Address, ...]]]
type Abort = Callable[[server_hooks.ServerConnectionHookData], bool]


class Unknown(enum.Enum):
    UNKNOWN = "unknown"


UNKNOWN = Unknown.UNKNOWN  # no verdict remembered

CACHE_SECONDS = 10.0
CACHE_MAX = 4096
REFUSED = {
    Refusal.LOOPBACK: "a loopback address",
    Refusal.UNSPECIFIED: "an unspecified address (this host)",
    Refusal.LINK_LOCAL: "a link-local address",
    Refusal.OWN_ADDRESS: "an address of the proxy's own host",
    Refusal.OWN_PORT: "the proxy's own ports",
    Refusal.PORT: "this port",
    Refusal.OWN_NAME: "the access page's name: the proxy answers it itself",
}


async def resolve(host: str, port: int) -> tuple[Address, ...]:
    """What `host` resolves to, off the event loop; empty when it does not resolve."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return ()  # mitmproxy's own connection attempt fails and says why
    return tuple(ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in infos)


def abort_server(data: server_hooks.ServerConnectionHookData) -> bool:
    """Abort the socket of a server connection just opened, before the proxy writes to it.

    The hook gets no handle on the socket: mitmproxy's proxyserver keeps each client's
    handler (`connections`, what its inject commands use), and the handler the sockets."""
    proxyserver: Any = ctx.master.addons.get("proxyserver")  # type: ignore[no-untyped-call]
    handler = getattr(proxyserver, "connections", {}).get(data.client.id)
    io = handler.transports.get(data.server) if handler is not None else None
    if io is None or io.writer is None:
        return False
    io.writer.close()
    return True


class Destinations:
    def __init__(
        self,
        leeway: Leeway,
        refused: Callable[[Refusal], None] = lambda reason: None,
        resolve: Resolve = resolve,
        abort: Abort = abort_server,
    ) -> None:
        self.leeway = leeway
        self.refused = refused
        self._resolve = resolve
        self._abort = abort
        self._seen: dict[tuple[str, int], tuple[float, Refusal | None]] = {}
        self._onboarding: str | None = None

    def running(self) -> None:
        self.configure({"onboarding"})

    def configure(self, updated: set[str]) -> None:
        # mitm.it is answered by the proxy itself: whatever a resolver says of it is moot.
        if updated & {"onboarding", "onboarding_host"}:
            self._onboarding = ctx.options.onboarding_host if ctx.options.onboarding else None

    async def http_connect(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error:
            return
        port = flow.request.port
        why = self.leeway.destinations.connect(port)
        if why is None:
            why = await self.check(flow.request.host, port, cached=True)
        if why is not None:
            self._answer(flow, why)

    def requestheaders(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        # Synchronous unless a name must be resolved: most requests go to a host allowed
        # a moment ago, and a coroutine per request is a cost the chain would await.
        if flow.response or flow.error or not flow.live:
            return None
        request = flow.request
        host, port = request.host, request.port
        # Inside a tunnel the port was checked at CONNECT; plain HTTP names its own.
        why = self.leeway.destinations.plain_http(port) if request.scheme == "http" else None
        if why is None:
            known = self._cached(host, port)
            if known is UNKNOWN:
                if self._answered_here(request):
                    return None
                return self._resolve_and_answer(flow, host, port)
            why = known
        if why is not None and not self._answered_here(request):
            self._answer(flow, why)
        return None

    def _answered_here(self, request: http.Request) -> bool:
        # The onboarding app and the access page are answered by the proxy itself, never
        # forwarded: whatever a resolver says of their names is moot.
        return self.leeway.is_portal(request.host) or request.pretty_host == self._onboarding

    async def _resolve_and_answer(self, flow: http.HTTPFlow, host: str, port: int) -> None:
        why = await self.check(host, port, cached=False)
        if why is not None:
            self._answer(flow, why)

    async def server_connect(self, data: server_hooks.ServerConnectionHookData) -> None:
        if data.server.error or not data.server.address:
            return
        host, port = data.server.address[:2]
        # The proxy answers a CONNECT to the access page itself, whatever the port: what
        # follows, should it be neither TLS nor HTTP, must not go on to a server that the
        # office's resolver may well know by that name.
        own = self.leeway.is_portal(str(host))
        why = Refusal.OWN_NAME if own else await self.check(str(host), int(port), cached=False)
        if why is not None:
            data.server.error = f"Leeway does not connect to {REFUSED[why]}"
            self._log(why, f"{host}:{port}", "before connecting")

    def server_connected(self, data: server_hooks.ServerConnectionHookData) -> None:
        if not data.server.peername:
            return
        host, port = data.server.peername[:2]
        address = literal_address(str(host).partition("%")[0])
        why = None if address is None else self.leeway.destinations.address(address, int(port))
        if why is not None:
            aborted = self._abort(data)
            data.server.error = f"Leeway does not connect to {REFUSED[why]}"
            self._log(why, f"{data.server.address} at {host}:{port}", f"aborted={aborted}")

    async def check(self, host: str, port: int, *, cached: bool) -> Refusal | None:
        """Why `host`:`port` is refused (the literal address, or any address the name
        resolves to), or None. Verdicts are remembered a while: traffic repeats its hosts."""
        if cached and (known := self._cached(host, port)) is not UNKNOWN:
            return known
        address = literal_address(host)
        addresses: tuple[Address, ...]
        if address is not None:
            expires, addresses = math.inf, (address,)
        else:
            expires = time.monotonic() + CACHE_SECONDS
            addresses = await self._resolve(host, port)
        rules = self.leeway.destinations
        why = next(filter(None, (rules.address(a, port) for a in addresses)), None)
        if len(self._seen) >= CACHE_MAX:
            self._seen.clear()  # bounded: junk names cannot grow it
        self._seen[(host, port)] = (expires, why)
        return why

    def _cached(self, host: str, port: int) -> Refusal | Unknown | None:
        """The remembered verdict on `host`:`port`, or UNKNOWN (never seen, or expired)."""
        hit = self._seen.get((host, port))
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        return UNKNOWN

    def _answer(self, flow: http.HTTPFlow, why: Refusal) -> None:
        reference = reference_id()
        answer_plain(flow, 403, f"The proxy does not connect to {REFUSED[why]}.", reference)
        self._log(why, f"{flow.request.host}:{flow.request.port}", f"ref {reference}")

    def _log(self, why: Refusal, target: str, detail: str) -> None:
        self.refused(why)
        logger.warning("refused destination %s (%s, %s)", target, why, detail)
