"""The Continue button: check the signed token, record the acknowledgement, go back.

The form posts to a reserved path on the site's own host; the answer is a 303 to the
page the person asked for on that same host, never anywhere else.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from mitmproxy import http

from addons import tokens
from addons.context import CONTINUE_PATH, Leeway, reference_id
from addons.forms import small_form
from addons.pages import safe_next
from addons.respond import answer_plain
from addons.who import Who, who_of
from policy.domains import Match
from policy.subject import Acknowledgement

logger = logging.getLogger("leeway.acknowledge")

MAX_FORM = 8192


def is_continue(flow: http.HTTPFlow) -> bool:
    """Whether `flow` posts (or tries to) the Continue form: it is this addon's alone."""
    return flow.request.path.split("?", 1)[0] == CONTINUE_PATH


class Acknowledge:
    def __init__(self, leeway: Leeway, now: Callable[[], datetime] | None = None) -> None:
        self.leeway = leeway
        self.now = now or (lambda: datetime.now(UTC))

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not is_continue(flow):
            return
        if flow.request.method != "POST":
            answer_plain(flow, 405, "Continue must be posted from the warning page.", "-")
        elif flow.request.headers.get("sec-fetch-site", "same-origin") == "cross-site":
            answer_plain(flow, 403, "Continue must come from the warning page.", "-")
        elif not small_form(flow.request, MAX_FORM):  # refused before the body comes
            answer_plain(flow, 403, "This is not a Continue form: it is far too large.", "-")

    def request(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        # Synchronous for every request but a Continue: with no coroutine among its parts,
        # the chain's `request` hook is a plain call, not a coroutine per request.
        if flow.response or flow.error or not is_continue(flow):
            return None
        return self._continue(flow)

    async def _continue(self, flow: http.HTTPFlow) -> None:
        who = who_of(flow)
        form = flow.request.urlencoded_form if len(flow.request.content or b"") <= MAX_FORM else {}
        now = self.now()
        try:
            category = tokens.verify(
                self.leeway.token_key, form.get("token", ""), principal=who.principal, now=now
            )
        except tokens.TokenError as e:
            ref = reference_id()
            logger.info("ref %s: Continue refused (%s)", ref, e)
            answer_plain(flow, 403, f"This Continue button cannot be used: {e}.", ref)
            return
        if not self._host_in(flow, category):
            answer_plain(flow, 403, "This Continue button is for another site.", reference_id())
            return
        await self._record(who, category, now)
        # Not `peek`: a person reads the warning for longer than the cache keeps a user
        # fresh, and the audit event still needs the department.
        subject = await self.leeway.subject_for(who, flow.request.pretty_host)
        self.leeway.observer.acknowledged(who, subject, category, flow.request.pretty_host, now)
        target = safe_next(form.get("next", "/"))
        flow.response = http.Response.make(
            303, b"", {"Location": target, "Cache-Control": "no-store"}
        )

    def _host_in(self, flow: http.HTTPFlow, category: str) -> bool:
        known = self.leeway.policy.classify(flow.request.pretty_host)
        return isinstance(known, Match) and known.category == category

    async def _record(self, who: Who, category: str, now: datetime) -> None:
        ttl = self.leeway.policy.settings.acknowledgement_ttl
        if who.username is None:
            ack = Acknowledgement(category, now, now + ttl)
            self.leeway.anonymous_acks.remember(who.principal, ack, now)
        else:
            ack = await self.leeway.acknowledgements.record(
                who.username, category, now, ttl, who.client
            )
        self.leeway.siblings.acknowledged(who.username, who.principal, ack)
