"""Which connections are opened up: only categorised ones are intercepted.

Everything else passes through without decryption, but the proxy's own access page, and a
connection whose client names no server (an address is no name) to a server whose
certificate is for a categorised site, or cannot be read (`addons.server_names`). With
interception off, the decision is made at CONNECT, where a block can only be a bare 403.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from mitmproxy import http, tls

from addons.context import Leeway, reference_id
from addons.respond import answer_plain
from addons.server_names import ServerNames
from addons.who import who_of
from policy import Action, Request
from policy.destinations import literal_address
from policy.domains import Match
from policy.hosts import InvalidHost


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
            return None
        if any(self._categorised(name) for name in names if name):
            return None
        if server and (not sni or _an_address(sni)):
            # No name to go by: what the server's certificate says it is decides.
            return self._by_certificate(data, str(server[0]), int(server[1]))
        data.ignore_connection = True
        return None

    async def _by_certificate(self, data: tls.ClientHelloData, host: str, port: int) -> None:
        names = await self.server_names.of(host, port)
        policy = self.leeway.policy
        if names is not None and not any(isinstance(policy.classify(n), Match) for n in names):
            data.ignore_connection = True
        # Categorised, or not to be known: intercepted, so each request names its site.

    def _categorised(self, name: str) -> bool:
        # A name that is not a host is intercepted, so that the request is refused.
        return isinstance(self.leeway.policy.classify(name), Match | InvalidHost)

    async def http_connect(self, flow: http.HTTPFlow) -> None:
        if self.leeway.intercept or flow.response or flow.error:
            return
        who = who_of(flow)
        subject = await self.leeway.subject_for(who, flow.request.host)
        # The method is hidden inside the tunnel: decide the tunnel as reading.
        request = Request("GET", (flow.request.host,))
        now, started = self.now(), time.perf_counter()
        decision = self.leeway.policy.decide(subject, request, now)
        seconds = time.perf_counter() - started
        self.leeway.observer.decided(decision, who, subject, seconds, now)
        refuse = decision.action is Action.BLOCK or (
            decision.action is Action.WARN and self.leeway.warn_without_intercept is Action.BLOCK
        )
        if refuse:
            text = f"Access to {decision.host} is not allowed."
            answer_plain(flow, 403, text, reference_id(), decision)


def _an_address(sni: str) -> bool:
    """An address where a name should be (a name ends with a letter: its top-level domain)."""
    return (sni[-1].isdigit() or ":" in sni) and literal_address(sni) is not None
