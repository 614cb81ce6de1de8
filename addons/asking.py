"""Asking for a role: the form posted to the access page's host, checked before it counts.

The token must be the requester's own (another person's is refused, as a Continue's is),
the browser's Origin the host the form was shown on (the blocked site's, or the access
page's: another site's is refused), the body small, the role one that a rule for the
category accepts, and the justification given and short. Asking again while a request is
pending shows that one: the store keeps one pending request per person, category and role.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from mitmproxy import http

from addons import tokens
from addons.access_page import REQUESTS_PATH
from addons.context import Leeway
from addons.forms import small_form
from addons.pages import JUSTIFICATION_MAX, RequestForm
from addons.portal_http import CROSS_SITE, answer, answer_page, origin_host, portal_base
from addons.protocols import RecordsUnavailable, RequestRefused
from addons.who import who_of
from policy.requestable import requestable_roles

logger = logging.getLogger("leeway.portal")

MAX_FORM = 8192  # a justification of 500 characters, escaped, and a token: far less
FORM_TYPE = "application/x-www-form-urlencoded"
TOKEN_LIFETIME = timedelta(hours=2)


def problem(
    leeway: Leeway, flow: http.HTTPFlow, status: int, message: str, *, allow: tuple[str, ...] = ()
) -> None:
    """A page that says what went wrong (`allow`: the methods a 405 names)."""
    answer_page(leeway, flow, status, "problem.html", status=status, message=message)
    if allow and flow.response is not None:
        flow.response.headers["Allow"] = ", ".join(allow)


def form_of(
    portal: str,
    token: str,
    category: str,
    roles: tuple[str, ...],
    *,
    justification: str = "",
    error: str = "",
) -> RequestForm:
    """The form to ask for one of `roles`, posted to the access page at `portal` (its base
    URL, in the scheme of the page the form is on); `justification` and `error`: an attempt
    shown again."""
    action = f"{portal}{REQUESTS_PATH.lstrip('/')}"
    return RequestForm(action, token, category, roles, justification, error)


class Asking:
    def __init__(self, leeway: Leeway, now: Callable[[], datetime]) -> None:
        self.leeway = leeway
        self.now = now

    def before_the_body(self, flow: http.HTTPFlow) -> None:
        """What can be refused from the headers alone, before the body is read."""
        request = flow.request
        if who_of(flow).username is None:
            problem(self.leeway, flow, 403, "Sign in to the proxy to ask for access.")
        elif not small_form(request, MAX_FORM):  # refused before the body streams
            problem(self.leeway, flow, 413, "This is not a request form: it is far too large.")
        elif request.headers.get("content-type", "").partition(";")[0].strip() != FORM_TYPE:
            problem(self.leeway, flow, 415, "This is not a request form.")
        elif origin_host(request.headers) is CROSS_SITE:
            problem(self.leeway, flow, 403, "A request for access must come from your own page.")

    async def ask(self, flow: http.HTTPFlow) -> None:
        who, now = who_of(flow), self.now()
        form = flow.request.urlencoded_form
        try:
            category, host = tokens.verify_request(
                self.leeway.token_key, form.get("token", ""), principal=who.principal, now=now
            )
        except tokens.TokenError as e:
            logger.info("access request refused: %s", e)
            text = f"This form cannot be used ({e}). Open your access page and ask from there."
            problem(self.leeway, flow, 403, text)
            return
        origin = origin_host(flow.request.headers)
        if origin is not None and origin != host:
            logger.info("access request refused: sent from another site")
            problem(self.leeway, flow, 403, "A request for access must come from your own page.")
            return
        role = form.get("role", "")
        if form.get("category") != category or role not in requestable_roles(
            self.leeway.policy, category
        ):
            problem(self.leeway, flow, 403, f"That role cannot be asked for on {category} sites.")
            return
        justification = form.get("justification", "").strip()
        if not justification or len(justification) > JUSTIFICATION_MAX:
            self._ask_again(flow, category, role, form.get("justification", ""))
            return
        await self._record(flow, category, role, justification, now)

    async def _record(
        self, flow: http.HTTPFlow, category: str, role: str, justification: str, now: datetime
    ) -> None:
        username = who_of(flow).username
        assert username is not None  # before_the_body refused everyone else
        try:
            created, record = await self.leeway.access_requests.ask(
                username, category, role, justification, now
            )
        except RecordsUnavailable as e:
            logger.warning("access request not recorded: %s", e)
            problem(self.leeway, flow, 503, "Your request can't be recorded just now. Try again.")
            return
        except RequestRefused as e:
            problem(self.leeway, flow, 403, f"Your request can't be recorded: {e}.")
            return
        logger.info(
            "access request #%d %s (%s, %s)",
            record.id,
            "asked" if created else "already pending",
            category,
            role,
        )
        answer(flow, 303, b"", "text/plain; charset=utf-8")
        assert flow.response is not None
        asked = "new" if created else "again"
        flow.response.headers["Location"] = f"{REQUESTS_PATH}/{record.id}?asked={asked}"

    def _ask_again(self, flow: http.HTTPFlow, category: str, role: str, given: str) -> None:
        """The form again, with what was written and why it was not taken; now on the
        access page's own origin, so its token names that."""
        text = given.strip()
        error = (
            "Please say why you need this role for your work."
            if not text
            else f"Please keep it to {JUSTIFICATION_MAX} characters (this is {len(text)})."
        )
        form = self.portal_form(flow, category, role, justification=given, error=error)
        answer_page(self.leeway, flow, 400, "request.html", request_form=form)

    def portal_form(
        self, flow: http.HTTPFlow, category: str, role: str, **shown_again: str
    ) -> RequestForm:
        """The form to ask for `role` on the access page's own origin, with a token for the
        person asking that names it."""
        token = tokens.issue_request(
            self.leeway.token_key,
            principal=who_of(flow).principal,
            category=category,
            host=self.leeway.portal_host,
            now=self.now(),
            lifetime=TOKEN_LIFETIME,
        )
        return form_of(portal_base(self.leeway, flow), token, category, (role,), **shown_again)
