"""Which connections are opened up: only categorised ones are intercepted.

Everything else passes through without decryption, but the proxy's own access page, and a
connection whose client names no server (an address is no name) to a server whose
certificate is for a categorised site (`addons.server_names`). With
interception off, the decision is made at CONNECT, where a block can only be a bare 403;
a CONNECT to an address is decided as one to the categorised site its server is for. What
the handshake is for besides is decided too (a TLS server name other than the CONNECT's;
with none, the site of the server's certificate): a tunnel refused for it is given no
server, so the handshake goes nowhere and the client's connection is closed.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from mitmproxy import connection, http, tls

from addons.context import Leeway, reference_id
from addons.respond import answer_plain
from addons.server_names import ServerNames
from addons.who import Who, by_address, who_of
from policy import Action, Decision, Request
from policy.destinations import literal_address
from policy.domains import Match
from policy.hosts import InvalidHost, normalise_host

logger = logging.getLogger("leeway.gate")


class Gate:
    def __init__(
        self,
        leeway: Leeway,
        now: Callable[[], datetime] | None = None,
        server_names: ServerNames | None = None,
    ) -> None:
        self.leeway = leeway
        self.now = now or (lambda: datetime.now(UTC))
        self.server_names = server_names or ServerNames(lambda: leeway.destinations)
        # Without interception: who opened the tunnels of each client connection.
        self._tunnels: weakref.WeakKeyDictionary[connection.Client, Who] = (
            weakref.WeakKeyDictionary()
        )

    def tls_clienthello(self, data: tls.ClientHelloData) -> Awaitable[None] | None:
        server = data.context.server.address
        sni = data.client_hello.sni
        names = (sni, server[0] if server else None)
        if any(self.leeway.is_portal(name) for name in names if name):
            # The access page is the proxy's own: always intercepted, even without
            # interception, and no server to shake hands with first (`eager`).
            data.establish_server_tls_first = False
            return None
        if not self.leeway.intercept:
            data.ignore_connection = True
            return self._without_interception(data, sni, server)
        if any(self._categorised(name) for name in names if name):
            return None
        if server and (not sni or _an_address(sni)):
            # No name to go by: what the server's certificate says it is decides.
            return self._by_certificate(data, str(server[0]), int(server[1]))
        data.ignore_connection = True
        return None

    async def _by_certificate(self, data: tls.ClientHelloData, host: str, port: int) -> None:
        site = await self._certified_site(host, port)
        if site is None:  # an open site, or none to be known: passed through untouched
            data.ignore_connection = True
            return
        # A categorised site's server: intercepted, so that each request names its site.
        logger.info(
            "no server name for %s:%d, decrypted: its certificate is for %s", host, port, site
        )

    def _without_interception(
        self, data: tls.ClientHelloData, sni: str | None, server: tuple[str, int] | None
    ) -> Awaitable[None] | None:
        """Decide what the handshake is for that its CONNECT did not decide (a SOCKS client
        sends none): a server name, else the site of the server's certificate."""
        if server is None:
            return None
        host, port = str(server[0]), int(server[1])
        connected = data.context.client in self._tunnels  # its CONNECT decided `host`
        named = sni if sni and not _an_address(sni) else None
        if connected and named and _same_host(named, server):
            return None  # its CONNECT decided that name
        names = [n for n in (named, None if connected else host) if n and self._categorised(n)]
        if names:
            return self._decide_tunnel(data, names)
        # An address at CONNECT was decided there as its server's site.
        at_connect = connected and literal_address(host) is not None
        if named is None and not at_connect and not self._categorised(host):
            return self._by_certificate_without_interception(data, host, port)
        return None

    async def _by_certificate_without_interception(
        self, data: tls.ClientHelloData, host: str, port: int
    ) -> None:
        site = await self._certified_site(host, port)
        if site is not None:
            await self._decide_tunnel(data, [site])

    async def _decide_tunnel(self, data: tls.ClientHelloData, names: list[str]) -> None:
        """Decide the tunnel for `names` too; a refused one is given no server at all."""
        client = data.context.client
        who = self._tunnels.get(client) or by_address(self.leeway.addresses, client.peername[0])
        for name in names:
            if (decision := await self._refused(who, name)) is not None:
                break
        else:
            return
        # Not decrypted, so no page can say why: the handshake goes nowhere.
        data.context.server = connection.Server(address=None)
        self.leeway.observer.tunnel_refused(decision.category, "server_name")
        logger.warning(
            "ref %s: closed a tunnel to %s (category %s): not allowed, and not decrypted to say so",
            reference_id(),
            decision.host,
            decision.category,
        )

    async def _certified_site(self, host: str, port: int) -> str | None:
        """The first categorised name in the certificate of the server at `host`:`port`."""
        policy = self.leeway.policy
        names = await self.server_names.of(host, port) or ()
        return next((name for name in names if isinstance(policy.classify(name), Match)), None)

    def _categorised(self, name: str) -> bool:
        # A name that is not a host is intercepted, so that the request is refused.
        return isinstance(self.leeway.policy.classify(name), Match | InvalidHost)

    async def http_connect(self, flow: http.HTTPFlow) -> None:
        if self.leeway.intercept or flow.response or flow.error:
            return
        who, host = who_of(flow), flow.request.host
        if literal_address(host) is not None and not self._categorised(host):
            # An address: the tunnel goes to the site its server's certificate is for.
            host = await self._certified_site(host, flow.request.port) or host
        decision = await self._refused(who, host)
        if decision is not None:
            text = f"Access to {decision.host} is not allowed."
            answer_plain(flow, 403, text, reference_id(), decision)
            return
        self._tunnels[flow.client_conn] = who

    async def _refused(self, who: Who, host: str) -> Decision | None:
        """The decision on a tunnel to `host` if it refuses it, after counting it."""
        subject = await self.leeway.subject_for(who, host)
        # The method is hidden inside the tunnel: decide the tunnel as reading.
        request = Request("GET", (host,))
        now, started = self.now(), time.perf_counter()
        decision = self.leeway.policy.decide(subject, request, now)
        seconds = time.perf_counter() - started
        self.leeway.observer.decided(decision, who, subject, seconds, now)
        refuse = decision.action is Action.BLOCK or (
            decision.action is Action.WARN and self.leeway.warn_without_intercept is Action.BLOCK
        )
        return decision if refuse else None


def _an_address(sni: str) -> bool:
    """An address where a name should be (a name ends with a letter: its top-level domain)."""
    return (sni[-1].isdigit() or ":" in sni) and literal_address(sni) is not None


def _same_host(sni: str, server: tuple[str, int] | None) -> bool:
    """Whether `sni` names the host the tunnel goes to (decided at its CONNECT)."""
    return server is not None and normalise_host(sni) == normalise_host(str(server[0]))
