"""Which connections are opened up: only categorised ones are intercepted.

Everything else passes through without decryption. With interception off, the
decision is made at CONNECT, where a block can only be a bare 403.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from mitmproxy import http, tls

from addons.context import METADATA_KEY, Leeway, Who, reference_id
from addons.identity import client_address
from addons.respond import answer_plain
from policy import Action, Request, Subject
from policy.hosts import InvalidHost, normalise_host

logger = logging.getLogger("leeway.gate")


async def subject_at_connect(leeway: Leeway, who: Who, host: str) -> tuple[Subject, bool]:
    """The entitlements of `who`, tunnelling to `host`, and whether the store is down."""
    try:
        return await leeway.subject_for(who)
    except Exception:  # the fail mode: decide as a user with no training and no roles
        logger.exception("entitlements failed at CONNECT to %s", host)
        return Subject.anonymous(), False


class Gate:
    def __init__(self, leeway: Leeway, now: Callable[[], datetime] | None = None) -> None:
        self.leeway = leeway
        self.now = now or (lambda: datetime.now(UTC))

    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        if not self.leeway.intercept:
            data.ignore_connection = True
            return
        server = data.context.server.address
        names = (data.client_hello.sni, server[0] if server else None)
        if not any(self._categorised(name) for name in names if name):
            data.ignore_connection = True

    def _categorised(self, name: str) -> bool:
        host = normalise_host(name)
        # A name that is not a host is intercepted, so that the request is refused.
        return isinstance(host, InvalidHost) or self.leeway.policy.category_of(host) is not None

    async def http_connect(self, flow: http.HTTPFlow) -> None:
        if self.leeway.intercept or flow.response or flow.error:
            return
        who = flow.metadata.get(METADATA_KEY) or Who(None, "none", client_address(flow))
        subject, degraded = await subject_at_connect(self.leeway, who, flow.request.host)
        # The method is hidden inside the tunnel: decide the tunnel as reading.
        request = Request("GET", (flow.request.host,))
        now, started = self.now(), time.perf_counter()
        decision = self.leeway.decide(subject, request, now, degraded)
        seconds = time.perf_counter() - started
        self.leeway.observer.decided(decision, who, subject, seconds, now)
        refuse = decision.action is Action.BLOCK or (
            decision.action is Action.WARN and self.leeway.warn_without_intercept is Action.BLOCK
        )
        if refuse:
            text = f"Access to {decision.host} is not allowed."
            answer_plain(flow, 403, text, reference_id(), decision)
