"""Which connections are opened up: only categorised ones are intercepted.

Everything else passes through without decryption, but the proxy's own access page. With
interception off, the decision is made at CONNECT, where a block can only be a bare 403.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from mitmproxy import http, tls

from addons.context import Leeway, reference_id
from addons.respond import answer_plain
from addons.who import who_of
from policy import Action, Request
from policy.domains import Match
from policy.hosts import InvalidHost


class Gate:
    def __init__(self, leeway: Leeway, now: Callable[[], datetime] | None = None) -> None:
        self.leeway = leeway
        self.now = now or (lambda: datetime.now(UTC))

    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        server = data.context.server.address
        names = (data.client_hello.sni, server[0] if server else None)
        if any(self.leeway.is_portal(name) for name in names if name):
            # The access page is the proxy's own: always intercepted, even without
            # interception, and no server to shake hands with first (`eager`).
            data.establish_server_tls_first = False
            return
        if not self.leeway.intercept:
            data.ignore_connection = True
            return
        if not any(self._categorised(name) for name in names if name):
            data.ignore_connection = True

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
