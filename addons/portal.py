"""The access page: every request to the portal host is answered by the proxy itself.

As mitmproxy answers mitm.it, over plain HTTP and inside a CONNECT: the CONNECT is answered
here (no site is contacted, also with `connection_strategy=eager`) and Gate intercepts the
name whatever the policy says. Runs after Identity, before anything that could forward.
The pages are personal data: built from the requester's own identity only (no parameter
names a person), never stored by a cache, never read by another origin, and not logged
with a query. Asking for a role is `addons.asking`'s.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

from mitmproxy import http

from addons.access_page import REQUEST_PATH, REQUESTS_PATH, access_document, request_document
from addons.asking import Asking, problem
from addons.context import Leeway
from addons.portal_http import answer_json, answer_page, wants_json
from addons.protocols import RecordsUnavailable, RequestRecord
from addons.who import Who, who_of
from policy import Subject
from policy.requestable import requestable_roles
from policy.standing import standing

logger = logging.getLogger("leeway.portal")

ALLOWED = ("GET", "HEAD", "POST")
ROUTES: Mapping[str, tuple[str, ...]] = {
    "/": ("GET", "HEAD"),
    REQUEST_PATH: ("GET", "HEAD"),
    REQUESTS_PATH: ("POST",),
}


def connected(flow: http.HTTPFlow) -> http.Response:
    """The 200 mitmproxy itself answers a CONNECT with (no headers: some clients mind)."""
    now = time.time()
    version = flow.request.data.http_version
    return http.Response(
        version, 200, b"Connection established", http.Headers(), b"", None, now, now
    )


class Portal:
    def __init__(self, leeway: Leeway, now: Callable[[], datetime] | None = None) -> None:
        self.leeway = leeway
        self.now = now or (lambda: datetime.now(UTC))
        self.asking = Asking(leeway, self.now)

    def http_connect(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not self.leeway.is_portal(flow.request.host):
            return
        flow.response = connected(flow)

    def requestheaders(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        # Synchronous for every request but the portal's: no coroutine per request.
        if flow.response or flow.error or not self.leeway.is_portal(flow.request.host):
            return None
        method, path = flow.request.method.upper(), flow.request.path.partition("?")[0]
        if method not in ALLOWED:
            problem(self.leeway, flow, 405, "This method is not served here.", allow=ALLOWED)
            return None
        if path.startswith(f"{REQUESTS_PATH}/") and method != "POST":
            return self._one_request(flow, path.removeprefix(f"{REQUESTS_PATH}/"))
        allowed = ROUTES.get(path)
        if allowed is None:
            problem(self.leeway, flow, 404, "There is no such page here.")
            return None
        if method not in allowed:
            problem(self.leeway, flow, 405, "This page does not take that method.", allow=allowed)
            return None
        if method == "POST":
            self.asking.before_the_body(flow)  # answered in `request`, with the form
            return None
        if path == REQUEST_PATH:
            return self._request_form(flow)
        return self._access_page(flow)

    def request(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        if flow.response or flow.error or not self.leeway.is_portal(flow.request.host):
            return None
        return self.asking.ask(flow)  # every portal request left is a form posted

    async def _access_page(self, flow: http.HTTPFlow) -> None:
        who = who_of(flow)
        subject, requests, readable = await self._records(who)
        now = self.now()
        document = access_document(
            self.leeway.policy, who, subject, standing(self.leeway.policy, subject, now), requests
        )
        status = 200 if readable and not subject.degraded else 503
        document["records_available"] = status == 200
        if wants_json(flow.request.headers.get("accept", "")):
            answer_json(flow, status, document)
        else:
            answer_page(self.leeway, flow, status, "access.html", page=document)
        logger.info("access page: %s / -> %d (%s)", flow.request.method, status, who.via)

    async def _records(self, who: Who) -> tuple[Subject, tuple[RequestRecord, ...], bool]:
        """The person's subject and requests; an unidentified visitor has none of either."""
        if who.username is None:
            return Subject.anonymous(), (), True
        subject = await self.leeway.subject_for(who, self.leeway.portal_host)
        try:
            return subject, tuple(await self.leeway.access_requests.of(who.username)), True
        except RecordsUnavailable as e:
            logger.warning("access page: the requests could not be read: %s", e)
            return subject, (), False

    async def _one_request(self, flow: http.HTTPFlow, number: str) -> None:
        who = who_of(flow)
        mine = await self._mine(flow, who)
        if mine is None:
            return
        found = next((r for r in mine if number.isdigit() and r.id == int(number)), None)
        if found is None:  # someone else's, or none: the same answer
            problem(self.leeway, flow, 404, "There is no such request of yours.")
            return
        again = flow.request.query.get("asked") == "again"
        answer_page(
            self.leeway, flow, 200, "asked.html", request=request_document(found), again=again
        )

    async def _mine(self, flow: http.HTTPFlow, who: Who) -> tuple[RequestRecord, ...] | None:
        """The requests of the person asking, or None when a problem was answered."""
        if who.username is None:
            problem(self.leeway, flow, 404, "There is no such request of yours.")
            return None
        try:
            return tuple(await self.leeway.access_requests.of(who.username))
        except RecordsUnavailable:
            problem(self.leeway, flow, 503, "Your records can't be read just now.")
            return None

    async def _request_form(self, flow: http.HTTPFlow) -> None:
        who = who_of(flow)
        query = flow.request.query
        category, role = query.get("category", ""), query.get("role", "")
        if role not in requestable_roles(self.leeway.policy, category):
            problem(self.leeway, flow, 404, "That role cannot be asked for there.")
            return
        if who.username is None:
            problem(self.leeway, flow, 403, "Sign in to the proxy to ask for access.")
            return
        mine = await self._mine(flow, who)
        if mine is None:
            return
        pending = next(
            (r for r in mine if (r.category, r.role, r.state) == (category, role, "pending")), None
        )
        if pending is not None:
            answer_page(
                self.leeway, flow, 200, "asked.html", request=request_document(pending), again=True
            )
            return
        form = self.asking.portal_form(flow, category, role)
        answer_page(self.leeway, flow, 200, "request.html", request_form=form)
