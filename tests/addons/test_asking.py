"""Tests for addons.asking: a form posted to ask for a role, and everything it must pass."""

from __future__ import annotations

import pytest

from addons import tokens
from tests.addons.fakes import KEY, request_flow
from tests.addons.portal_support import (
    FORM,
    LIFETIME,
    PORTAL,
    MemoryRequests,
    as_user,
    form,
    portal,
    request_token,
    status,
    text,
    visit,
)
from tests.policy.samples import NOW

ROLE = "comms-publisher"
SITE = "www.facebook.com"


def post(
    requests: MemoryRequests,
    *,
    user: str | None = "tess",
    token: str | None = None,
    headers: dict[str, str] | None = None,
    origin: str | None = f"http://{PORTAL}",
    **fields: str,
) -> tuple[int, str, str]:
    """POST /requests; the status, the page and the Location of the answer."""
    values = {
        "token": request_token("tess") if token is None else token,
        "category": "social",
        "role": ROLE,
        "justification": "I post for the press office.",
        **fields,
    }
    body = form(**values)
    flow = visit(
        portal(requests),
        "/requests",
        user=user,
        method="POST",
        headers={**FORM, **({"Origin": origin} if origin else {}), **(headers or {})},
        content=body,
    )
    code = status(flow)
    assert flow.response is not None
    return code, text(flow), flow.response.headers.get("Location", "")


def test_a_request_is_recorded_and_the_answer_goes_to_it() -> None:
    requests = MemoryRequests()
    assert post(requests)[0::2] == (303, "/requests/1?asked=new")
    kept = requests.kept[0]
    assert (kept.username, kept.category, kept.role, kept.state) == (
        "tess",
        "social",
        ROLE,
        "pending",
    )
    assert kept.justification == "I post for the press office."


def test_asking_again_while_pending_shows_the_one_pending() -> None:
    requests = MemoryRequests()
    post(requests)
    assert post(requests, justification="Again.")[0::2] == (303, "/requests/1?asked=again")
    assert len(requests.kept) == 1
    text_of_it = visit(portal(requests), "/requests/1?asked=again", user="tess")
    assert "You have already asked for this role" in text(text_of_it)


def test_another_persons_token_is_refused() -> None:
    requests = MemoryRequests()
    code, page, _ = post(requests, user="pat", token=request_token("tess"))
    assert code == 403 and "token is for another user" in page
    assert requests.kept == []


CONTINUE_TOKEN = tokens.issue(KEY, principal="tess", category="social", now=NOW)
LONG_AGO = NOW - tokens.DEFAULT_LIFETIME * 5
EXPIRED = tokens.issue_request(
    KEY, principal="tess", category="social", host=PORTAL, now=LONG_AGO, lifetime=LIFETIME
)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("", id="none"),
        pytest.param("x.y", id="malformed"),
        pytest.param(CONTINUE_TOKEN, id="a Continue's"),
        pytest.param(EXPIRED, id="expired"),
    ],
)
def test_a_bad_token_is_refused(token: str) -> None:
    requests = MemoryRequests()
    assert post(requests, token=token)[0] == 403
    assert requests.kept == []


@pytest.mark.parametrize(
    ("origin", "site", "token_host", "code"),
    [
        pytest.param("https://evil.example", None, PORTAL, 403, id="another site"),
        pytest.param("null", None, PORTAL, 403, id="an opaque origin"),
        pytest.param("http://www.facebook.com", None, PORTAL, 403, id="not the token's"),
        pytest.param("https://www.facebook.com:8443", None, SITE, 303, id="the blocked site's"),
        pytest.param("https://LEEWAY.internal", None, PORTAL, 303, id="the portal's"),
        pytest.param(None, "cross-site", PORTAL, 403, id="cross-site, unnamed"),
        pytest.param(None, "same-origin", PORTAL, 303, id="same-origin, unnamed"),
    ],
)  # fmt: skip
def test_the_form_must_come_from_the_page_it_was_shown_on(
    origin: str | None, site: str | None, token_host: str, code: int
) -> None:
    requests = MemoryRequests()
    headers = {"Sec-Fetch-Site": site} if site else {}
    got = post(requests, token=request_token("tess", token_host), headers=headers, origin=origin)
    assert got[0] == code
    assert len(requests.kept) == (1 if code == 303 else 0)


def test_a_script_without_a_browser_origin_may_ask_with_its_token() -> None:
    requests = MemoryRequests()
    flow = visit(
        portal(requests),
        "/requests",
        user="tess",
        method="POST",
        headers=FORM,
        content=form(token=request_token("tess"), category="social", role=ROLE, justification="y"),
    )
    assert status(flow) == 303 and len(requests.kept) == 1


@pytest.mark.parametrize(
    ("category", "role", "why"),
    [
        pytest.param("social", "admin", "cannot be asked for", id="a role no rule accepts"),
        pytest.param("news", ROLE, "cannot be asked for", id="another category"),
    ],
)
def test_only_a_requestable_role_of_the_tokens_category(category: str, role: str, why: str) -> None:
    requests = MemoryRequests()
    code, page, _ = post(requests, category=category, role=role)
    assert code == 403 and why in page and requests.kept == []


@pytest.mark.parametrize(
    ("justification", "error"),
    [
        pytest.param("   ", "Please say why you need this role", id="empty"),
        pytest.param("x" * 501, "Please keep it to 500 characters (this is 501)", id="501 chars"),
    ],
)
def test_the_justification_is_required_and_short(justification: str, error: str) -> None:
    requests = MemoryRequests()
    code, page, _ = post(requests, justification=justification)
    assert code == 400 and error in page and requests.kept == []
    assert 'name="justification" required maxlength="500"' in page  # the form, again
    assert post(requests, justification="x" * 500)[0] == 303


def test_the_form_shown_again_escapes_what_was_written() -> None:
    code, page, _ = post(MemoryRequests(), justification="<script>alert(1)</script>" * 30)
    assert code == 400
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)" in page


def test_an_unidentified_visitor_cannot_ask() -> None:
    requests = MemoryRequests()
    code, page, _ = post(requests, user=None, token=request_token("addr:10.0.0.5"))
    assert code == 403 and "Sign in to the proxy" in page and requests.kept == []


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        pytest.param({"Content-Type": "application/json"}, 415, id="not a form"),
        pytest.param({"Content-Length": "9000"}, 413, id="too large"),
        pytest.param({"Transfer-Encoding": "chunked"}, 413, id="of unknown size"),
    ],
)
def test_what_is_not_a_small_form_is_refused_before_its_body(
    headers: dict[str, str], code: int
) -> None:
    addon = portal(MemoryRequests())
    flow = as_user(
        request_flow(PORTAL, method="POST", path="/requests", headers={**FORM, **headers}), "tess"
    )
    addon.requestheaders(flow)
    assert status(flow) == code


def test_a_store_outage_or_refusal_is_a_page_not_a_traceback() -> None:
    requests = MemoryRequests()
    requests.down = True
    code, page, _ = post(requests)
    assert code == 503 and "can&#39;t be recorded just now" in page
    requests.down, requests.refuse = False, "user 'tess' is not known to Leeway"
    code, page, _ = post(requests)
    assert code == 403 and "not known to Leeway" in page
