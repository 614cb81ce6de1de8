"""Turn a decision into the response a person or a program gets back.

Page loads get the warning or block page; everything else gets a short 403 (JSON when
JSON is accepted), never HTML in place of an image, a script or an API answer.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from mitmproxy import http

from addons import tokens
from addons.asking import TOKEN_LIFETIME as ASKING_TOKEN_LIFETIME
from addons.asking import form_of
from addons.context import CONTINUE_PATH, DECISION_HEADER, Leeway, reference_id
from addons.pages import (
    ANSWER_HEADERS,
    BLOCK_HEADERS,
    WARN_HEADERS,
    ContinueForm,
    Course,
    PageFacts,
    RequestForm,
    block_page,
    is_page_load,
    short_refusal,
    warn_page,
)
from addons.portal_http import portal_base
from addons.who import Who
from policy import Access, Action, Decision, Reason
from policy.remedy import remedy_for
from policy.requestable import requestable_roles

logger = logging.getLogger("leeway.enforce")

TOKEN_LIFETIME = timedelta(minutes=30)
_HTML = "text/html; charset=utf-8"


def describe(decision: Decision) -> str:
    """The value of the response header that names the decision (and its category, if any)."""
    text = f"{decision.action}; reason={decision.reason}"
    return text if decision.category is None else f"{text}; category={decision.category}"


def answer_plain(
    flow: http.HTTPFlow,
    status: int,
    text: str,
    reference: str,
    decision: Decision | None = None,
) -> None:
    body = f"{text} Reference {reference}.\n"
    headers = own_headers("text/plain; charset=utf-8")
    if decision is not None:
        headers[DECISION_HEADER] = describe(decision)
    _answer(flow, http.Response.make(status, body, headers))


def answer_decision(
    flow: http.HTTPFlow, decision: Decision, who: Who, leeway: Leeway, now: datetime
) -> None:
    """Answer a warn or block (or a reminder on a page load); let other requests pass."""
    page = is_page_load(flow.request.method, flow.request.headers)
    if decision.action is Action.ALLOW and not page:
        return
    reference = reference_id()
    facts = page_facts(decision, leeway, reference)
    if not page:
        accept = flow.request.headers.get("accept", "")
        status, body, ctype = short_refusal(facts, action=str(decision.action), accept=accept)
        _answer(flow, http.Response.make(status, body, own_headers(ctype)))
    elif decision.action is Action.BLOCK:
        portal = portal_base(leeway, flow)
        asking = request_form(decision, who, leeway, now, facts, portal)
        status, html = block_page(
            facts, request_form=asking, templates=leeway.templates, portal_url=portal
        )
        headers = BLOCK_HEADERS if asking is None else asking_headers(portal)
        _answer(flow, http.Response.make(status, html, own_headers(_HTML, headers)))
    else:
        token = tokens.issue(
            leeway.token_key,
            principal=who.principal,
            category=str(decision.category),
            now=now,
            lifetime=TOKEN_LIFETIME,
        )
        form = ContinueForm(CONTINUE_PATH, token, flow.request.path)
        status, html = warn_page(
            facts, form, templates=leeway.templates, portal_url=portal_base(leeway, flow)
        )
        _answer(flow, http.Response.make(status, html, own_headers(_HTML, WARN_HEADERS)))
    logger.info(
        "ref %s: %s %s %s (%s, %s)",
        reference,
        decision.action,
        decision.access,
        decision.host,
        decision.reason,
        who.via,
    )


def request_form(
    decision: Decision, who: Who, leeway: Leeway, now: datetime, facts: PageFacts, portal: str
) -> RequestForm | None:
    """The block page's form to ask for a role the remedy names, for an identified person:
    its token is bound to them, the category and this site's host (the form's Origin)."""
    category = decision.category
    if who.username is None or category is None:
        return None
    askable = requestable_roles(leeway.policy, category)
    roles = tuple(role for role in facts.roles if role in askable)
    if not roles:
        return None
    token = tokens.issue_request(
        leeway.token_key,
        principal=who.principal,
        category=category,
        host=decision.host,
        now=now,
        lifetime=ASKING_TOKEN_LIFETIME,
    )
    return form_of(portal, token, category, roles)


def asking_headers(portal: str) -> tuple[tuple[str, str], ...]:
    """The block page's headers when its form posts to the access page at `portal`: the
    CSP lets it, and the referrer policy lets the browser name this site's origin (its
    `Origin` header; never the path) to the access page, which checks it."""
    csp = dict(BLOCK_HEADERS)["Content-Security-Policy"]
    origin = portal.rstrip("/")
    swapped = {
        "Content-Security-Policy": csp.replace(
            "form-action 'self'", f"form-action 'self' {origin}"
        ),
        "Referrer-Policy": "strict-origin",
    }
    return tuple((name, swapped.get(name, value)) for name, value in BLOCK_HEADERS)


def page_facts(decision: Decision, leeway: Leeway, reference: str) -> PageFacts:
    policy = leeway.policy
    remedy = remedy_for(policy, decision)
    category = policy.categories.get(str(decision.category))
    return PageFacts(
        host=decision.host,
        category=str(decision.category),
        guidance=category.guidance if category is not None else (),
        reason=remedy.reason,
        courses=tuple(Course(m.title, m.url) for m in remedy.modules),
        roles=remedy.roles,
        reference=reference,
        renewal=decision.reason is Reason.TRAINING_EXPIRING,
        write=decision.access is Access.WRITE,
    )


def own_headers(
    content_type: str, headers: tuple[tuple[str, str], ...] = ANSWER_HEADERS
) -> dict[str, str]:
    """The headers of one of Leeway's own answers: `ANSWER_HEADERS`, or a page's."""
    return {**dict(headers), "Content-Type": content_type}


def _answer(flow: http.HTTPFlow, response: http.Response) -> None:
    # A body that Stream marked for streaming cannot be answered in its place.
    flow.request.stream = False
    # A client waiting for `100 Continue` gets the answer instead (mitmproxy sends the 100
    # after requestheaders unless the header is gone): it will not send the body, and the
    # server cannot tell where a next request would begin, so the connection ends.
    if flow.request.headers.pop("expect", None) is not None and not flow.request.is_http2:
        response.headers["Connection"] = "close"
    flow.response = response
