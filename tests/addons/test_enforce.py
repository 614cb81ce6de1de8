"""Tests for addons.enforce (and addons.respond): every request to a categorised site decided."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable
from dataclasses import replace
from pathlib import Path

import pytest
from mitmproxy import http
from mitmproxy.test import tflow

from addons import tokens
from addons.context import CONTINUE_PATH, DECISION_HEADER, Leeway
from addons.enforce import Enforce
from addons.page_templates import Templates
from addons.who import METADATA_KEY, FlowNotes, Who
from policy import Acknowledgement, Decision, Reason, Subject, parse_policy
from tests.addons.addon_context import addon_context
from tests.addons.fakes import (
    CLIENT,
    EXPIRING,
    KEY,
    NAVIGATE,
    PUBLISHER,
    TRAINED,
    DictEntitlements,
    count_decisions,
    counted,
    make_leeway,
    request_flow,
)
from tests.policy.samples import NOW

SUBJECTS = {"tess": TRAINED, "pat": PUBLISHER, "eve": EXPIRING}
IMAGE = {"Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image", "Accept": "image/avif,*/*"}
XHR_JSON = {"Sec-Fetch-Mode": "cors", "Accept": "application/json"}


def enforce(
    flow: http.HTTPFlow, *, user: str | None = None, leeway: Leeway | None = None
) -> http.HTTPFlow:
    """Run `flow` through Enforce, as sent by `user` (None: unidentified)."""
    addon = Enforce(leeway or make_leeway(SUBJECTS), now=lambda: NOW)
    if user is not None:
        flow.metadata[METADATA_KEY] = FlowNotes(Who(user, "proxyauth", CLIENT))

    async def cycle() -> None:
        with addon_context(addon) as tctx:
            await tctx.cycle(addon, flow)

    asyncio.run(cycle())
    return flow


def decision_of(flow: http.HTTPFlow) -> Decision:
    decision = flow.metadata[METADATA_KEY].decision
    assert isinstance(decision, Decision)
    return decision


def answered(flow: http.HTTPFlow, status: int) -> http.Response:
    assert flow.response is not None, "the request was let through"
    assert flow.response.status_code == status, flow.response.text
    return flow.response


def token_in(page: str) -> str:
    found = re.search(r'name="token" value="([^"]+)"', page)
    assert found is not None, "no Continue token on the page"
    return found.group(1)


def test_a_flow_already_answered_is_left_alone() -> None:
    login = http.Response.make(407, b"proxy login required")
    flow = request_flow("news.example", headers=NAVIGATE)
    flow.response = login
    enforce(flow)
    assert flow.response is login
    assert DECISION_HEADER not in login.headers
    assert "leeway.decision" not in flow.metadata


def test_a_flow_with_an_error_is_left_alone() -> None:
    flow = request_flow("news.example", headers=NAVIGATE)
    flow.error = tflow.terr()
    assert enforce(flow).response is None


@pytest.mark.parametrize(
    ("host", "user", "method", "headers"),
    [
        pytest.param("example.org", None, "GET", NAVIGATE, id="uncategorised"),
        pytest.param("www.facebook.com", "pat", "POST", NAVIGATE, id="publisher posts"),
        pytest.param("static.fbcdn.net", "tess", "GET", IMAGE, id="trained: image, no reminder"),
        pytest.param("www.facebook.com", "tess", "GET", XHR_JSON, id="trained: read by XHR"),
    ],
)
def test_allow_lets_the_request_through(
    host: str, user: str | None, method: str, headers: dict[str, str]
) -> None:
    flow = enforce(request_flow(host, method=method, headers=headers), user=user)
    assert flow.response is None
    assert decision_of(flow).action == "allow"


def test_a_cached_sender_is_decided_without_a_coroutine() -> None:
    # With no coroutine among its parts' `requestheaders`, the chain's is a plain call.
    source = DictEntitlements(SUBJECTS)
    addon = Enforce(make_leeway(entitlements=source), now=lambda: NOW)
    first = request_flow("www.facebook.com", method="POST")
    first.metadata[METADATA_KEY] = FlowNotes(Who("tess", "proxyauth", CLIENT))
    loading = addon.requestheaders(first)
    assert loading is not None  # not cached yet: loaded
    asyncio.run(_awaited(loading))
    assert source.loads == ["tess"]
    again = request_flow("www.facebook.com", method="POST")
    again.metadata[METADATA_KEY] = FlowNotes(Who("tess", "proxyauth", CLIENT))
    assert addon.requestheaders(again) is None
    assert decision_of(first) == decision_of(again) and decision_of(again).action == "warn"
    assert source.loads == ["tess"]


async def _awaited(pending: Awaitable[None]) -> None:
    await pending


def test_warn_on_a_page_load_shows_the_interstitial_with_a_continue_token() -> None:
    flow = enforce(request_flow("www.facebook.com", path="/groups?id=7", headers=NAVIGATE))
    response = answered(flow, 403)
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers[DECISION_HEADER] == "warn; reason=rule_matched; category=social"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    page = response.text or ""
    assert "<title>Before you continue to www.facebook.com</title>" in page
    assert "You represent the organisation online as well as off." in page
    assert "https://learning.example.org/basics" in page
    assert f'action="{CONTINUE_PATH}"' in page
    assert 'name="next" value="/groups?id=7"' in page
    category = tokens.verify(KEY, token_in(page), principal=f"addr:{CLIENT}", now=NOW)
    assert category == "social"


@pytest.mark.parametrize(
    ("method", "headers", "content_type"),
    [
        pytest.param("GET", IMAGE, "text/plain", id="image -> text"),
        pytest.param("GET", XHR_JSON, "application/json", id="XHR accepting JSON -> JSON"),
        pytest.param("HEAD", {"Accept": "text/html"}, "text/plain", id="HEAD is no page load"),
    ],
)
def test_warn_on_anything_but_a_page_load_is_a_short_403(
    method: str, headers: dict[str, str], content_type: str
) -> None:
    flow = enforce(request_flow("www.facebook.com", method=method, headers=headers))
    response = answered(flow, 403)
    assert response.headers["Content-Type"].startswith(content_type)
    assert "<html" not in (response.text or "")
    assert response.headers[DECISION_HEADER].startswith("warn;")
    if content_type == "application/json":
        document = json.loads(response.text or "")
        assert (document["action"], document["category"]) == ("warn", "social")


def test_block_on_a_page_load_shows_the_block_page() -> None:
    response = answered(enforce(request_flow("news.example", headers=NAVIGATE)), 403)
    page = response.text or ""
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<title>Access to news.example is blocked</title>" in page
    assert "No course or role gives access" in page
    assert response.headers[DECISION_HEADER] == "block; reason=no_matching_rule; category=news"
    assert 'name="token"' not in page


def test_block_page_for_posting_names_the_course_that_would_help() -> None:
    flow = enforce(request_flow("www.facebook.com", method="POST", headers=NAVIGATE))
    page = answered(flow, 403).text or ""
    assert "Posting to www.facebook.com is blocked" in page
    assert "Social media basics" in page
    assert decision_of(flow).rule == "everyone"


def test_the_pages_use_the_templates_and_portal_of_the_running_proxy(tmp_path: Path) -> None:
    (tmp_path / "brand.html").write_text("Ministry of Examples", encoding="utf-8")
    leeway = replace(
        make_leeway(SUBJECTS),
        templates=Templates.load(tmp_path),
        portal_host="leeway.corp.example",
    )
    for method in ("GET", "POST"):  # the warning page, the block page
        flow = request_flow("www.facebook.com", method=method, headers=NAVIGATE)
        page = answered(enforce(flow, leeway=leeway), 403).text or ""
        assert '<header class="brand">Ministry of Examples</header>' in page
        assert '<a href="http://leeway.corp.example/">See all your access</a>' in page


def test_block_of_a_script_is_a_short_403() -> None:
    flow = enforce(request_flow("news.example", headers={"Sec-Fetch-Dest": "script"}))
    response = answered(flow, 403)
    assert response.headers["Content-Type"].startswith("text/plain")
    assert "Access to news.example (news) is blocked" in (response.text or "")


def test_an_allowed_page_load_with_a_reminder_shows_it() -> None:
    flow = enforce(request_flow("www.facebook.com", headers=NAVIGATE), user="tess")
    response = answered(flow, 403)
    assert response.headers[DECISION_HEADER] == "allow; reason=rule_matched; category=social"
    assert "You can read social sites. Before you post anything" in (response.text or "")
    tokens.verify(KEY, token_in(response.text or ""), principal="tess", now=NOW)


def test_renewal_notice_uses_the_warning_page_with_its_own_words() -> None:
    flow = enforce(request_flow("www.facebook.com", headers=NAVIGATE), user="eve")
    page = answered(flow, 403).text or ""
    assert "Renew your training to keep using www.facebook.com" in page
    assert "Your Social media basics training runs out on 2026-11-30." in page
    assert decision_of(flow).reason is Reason.TRAINING_EXPIRING


def test_an_acknowledged_warning_lets_the_page_through() -> None:
    ack = Acknowledgement("social", NOW, NOW.replace(hour=20))
    leeway = make_leeway({"ada": Subject("ada", known=True, acknowledgements=(ack,))})
    flow = enforce(request_flow("www.facebook.com", headers=NAVIGATE), user="ada", leeway=leeway)
    assert flow.response is None
    assert decision_of(flow).reason is Reason.ACKNOWLEDGED


def test_the_continue_path_is_left_to_acknowledge() -> None:
    flow = request_flow("www.facebook.com", method="POST", path=f"{CONTINUE_PATH}?x=1")
    assert enforce(flow).response is None


def test_the_access_page_is_left_to_portal_and_not_counted_as_a_decision() -> None:
    leeway = make_leeway(SUBJECTS)
    registry = count_decisions(leeway)
    for host in ("leeway.internal", "Leeway.Internal."):
        flow = enforce(request_flow(host, method="POST", path="/requests"), leeway=leeway)
        assert flow.response is None and METADATA_KEY not in flow.metadata
    assert counted(registry, "allow", "uncategorized", "none") == 0
    enforce(request_flow("www.example.org"), leeway=leeway)
    assert counted(registry, "allow", "uncategorized", "none") == 1


@pytest.mark.parametrize("host", ["bad host", "exa_mple..com", "-x-.facebook.com"])
def test_an_invalid_host_is_a_400(host: str) -> None:
    response = answered(enforce(request_flow(host, headers=NAVIGATE)), 400)
    assert "host name is not valid" in (response.text or "")
    assert DECISION_HEADER in response.headers


def test_a_connection_opened_for_a_stricter_name_answers_421() -> None:
    # The TLS connection was opened for a warned site; the Host names an uncategorised one.
    flow = request_flow(
        "example.org", target="www.facebook.com", sni="www.facebook.com", headers=NAVIGATE
    )
    response = answered(enforce(flow), 421)
    assert "opened for another site" in (response.text or "")


def test_a_connect_target_stricter_than_the_host_answers_421() -> None:
    flow = request_flow("example.org", target="news.example", headers=NAVIGATE)
    answered(enforce(flow), 421)


def test_names_decided_alike_do_not_answer_421() -> None:
    flow = request_flow(
        "www.facebook.com", target="static.fbcdn.net", sni="static.fbcdn.net", headers=NAVIGATE
    )
    assert enforce(flow, user="pat").response is None


def test_a_host_stricter_than_the_connection_gets_the_hosts_decision() -> None:
    # Domain fronting: opened for an uncategorised site, asking for a blocked one.
    flow = request_flow("news.example", target="example.org", sni="example.org", headers=NAVIGATE)
    response = answered(enforce(flow), 403)
    assert "Access to news.example is blocked" in (response.text or "")
    assert decision_of(flow).host == "news.example"


def test_a_failing_entitlement_source_applies_the_fail_mode_and_logs_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = DictEntitlements(SUBJECTS, failure=RuntimeError("store exploded"))
    leeway = make_leeway(entitlements=source)
    flow = request_flow("www.facebook.com", method="POST", headers=NAVIGATE)
    with caplog.at_level(logging.ERROR, logger="leeway"):
        enforce(flow, user="pat", leeway=leeway)
    # A publisher may post; in the fail mode she is decided as anonymous: blocked.
    header = answered(flow, 403).headers[DECISION_HEADER]
    assert header == "block; reason=store_unavailable; category=social"
    assert decision_of(flow).rule == "everyone"
    assert source.loads == ["pat"]
    failure = next(r for r in caplog.records if "could not be read" in r.getMessage())
    assert "'pat'" in failure.getMessage() and "www.facebook.com" in failure.getMessage()
    assert re.search(r"ref [0-9A-F]{8}", failure.getMessage())
    assert failure.exc_info is not None
    assert "store exploded" in caplog.text


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(DictEntitlements(SUBJECTS, degraded=True), id="store down"),
        pytest.param(DictEntitlements(SUBJECTS, failure=RuntimeError("bug")), id="source raises"),
    ],
)
def test_a_fail_mode_decision_is_counted_with_reason_store_unavailable(
    source: DictEntitlements,
) -> None:
    leeway = make_leeway(entitlements=source)
    registry = count_decisions(leeway)
    flow = request_flow("www.facebook.com", method="POST", headers=NAVIGATE)
    enforce(flow, user="pat", leeway=leeway)
    assert decision_of(flow).reason is Reason.STORE_UNAVAILABLE
    assert counted(registry, "block", "store_unavailable", "social") == 1


def test_a_degraded_store_is_decided_as_untrained_with_reason_store_unavailable() -> None:
    leeway = make_leeway(entitlements=DictEntitlements(SUBJECTS, degraded=True))
    flow = enforce(request_flow("www.facebook.com", headers=NAVIGATE), user="pat", leeway=leeway)
    response = answered(flow, 403)
    assert response.headers[DECISION_HEADER] == "warn; reason=store_unavailable; category=social"
    assert "could not be checked just now" in (response.text or "")


def test_a_degraded_store_leaves_uncategorised_sites_alone() -> None:
    leeway = make_leeway(entitlements=DictEntitlements(SUBJECTS, degraded=True))
    flow = enforce(request_flow("example.org", headers=NAVIGATE), user="pat", leeway=leeway)
    assert flow.response is None
    assert decision_of(flow).reason is Reason.UNCATEGORIZED


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"X-HTTP-Method-Override": "POST"}, id="X-HTTP-Method-Override"),
        pytest.param({"x-http-method": " delete "}, id="X-HTTP-Method, any case"),
        pytest.param({"X-Method-Override": "GET, PUT"}, id="X-Method-Override list"),
    ],
)
def test_a_get_overridden_to_a_write_is_decided_as_posting(headers: dict[str, str]) -> None:
    flow = enforce(request_flow("www.facebook.com", headers={**XHR_JSON, **headers}))
    response = answered(flow, 403)
    assert response.headers[DECISION_HEADER] == "block; reason=rule_matched; category=social"
    decision = decision_of(flow)
    assert decision.access == "write"
    assert any(s.startswith("The request counts as posting: its X-") for s in decision.explanation)


def test_a_trained_users_overridden_get_goes_through_with_its_header() -> None:
    flow = request_flow("www.facebook.com", headers={**XHR_JSON, "X-HTTP-Method-Override": "POST"})
    flow = enforce(flow, user="pat")
    assert flow.response is None
    assert decision_of(flow).access == "write"
    assert flow.request.headers["X-HTTP-Method-Override"] == "POST"


def test_an_override_naming_a_read_stays_a_read() -> None:
    flow = request_flow("www.facebook.com", headers={**XHR_JSON, "X-HTTP-Method-Override": "HEAD"})
    enforce(flow, user="tess")
    assert flow.response is None
    assert decision_of(flow).access == "read"


def test_answering_a_streamed_request_stops_the_stream() -> None:
    flow = request_flow("www.facebook.com", method="POST", headers={"Sec-Fetch-Dest": "video"})
    flow.request.stream = True
    answered(enforce(flow), 403)
    assert flow.request.stream is False


def test_a_request_let_through_keeps_its_stream() -> None:
    flow = request_flow("example.org", method="POST")
    flow.request.stream = True
    enforce(flow)
    assert flow.request.stream is True


def test_a_host_with_a_port_is_decided_once_as_its_host() -> None:
    leeway = make_leeway(SUBJECTS)
    registry = count_decisions(leeway)
    flow = enforce(
        request_flow("news.example:8080", target="news.example", headers=NAVIGATE), leeway=leeway
    )
    assert (
        answered(flow, 403).headers[DECISION_HEADER]
        == "block; reason=no_matching_rule; category=news"
    )
    assert decision_of(flow).host == "news.example"
    assert counted(registry, "block", "no_matching_rule", "news") == 1


ROLE_POLICY = b"""
[categories.social]
domains = ["facebook.com"]

[[rules]]
name = "publishers"
categories = ["social"]
roles_any = ["comms-publisher"]
read = "allow"

[[rules]]
name = "everyone"
categories = ["social"]
read = "block"
"""


def role_leeway() -> Leeway:
    leeway = make_leeway(SUBJECTS)
    leeway.policy = parse_policy(ROLE_POLICY, source="test", label="roles.toml")
    return leeway


@pytest.mark.parametrize(
    ("sni", "portal"),
    [(None, "http://leeway.internal"), ("www.facebook.com", "https://leeway.internal")],
    ids=["http", "https"],
)
def test_a_block_page_whose_remedy_is_a_role_has_a_form_to_ask_for_it(
    sni: str | None, portal: str
) -> None:
    flow = request_flow("www.facebook.com", headers=NAVIGATE, sni=sni)
    response = answered(enforce(flow, user="tess", leeway=role_leeway()), 403)
    page = response.get_text() or ""
    assert f'<form method="post" action="{portal}/requests"' in page
    assert '<meta name="referrer" content="strict-origin">' in page
    assert f'href="{portal}/">See all your access' in page
    category, host = tokens.verify_request(KEY, token_in(page), principal="tess", now=NOW)
    assert (category, host) == ("social", "www.facebook.com")
    assert f"form-action 'self' {portal};" in response.headers["Content-Security-Policy"]
    assert response.headers["Referrer-Policy"] == "strict-origin"


def test_an_unidentified_person_gets_the_block_page_without_a_form() -> None:
    flow = request_flow("www.facebook.com", headers=NAVIGATE)
    response = answered(enforce(flow, leeway=role_leeway()), 403)
    page = response.get_text() or ""
    assert "<form" not in page and "comms-publisher" in page
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "form-action 'self';" in response.headers["Content-Security-Policy"]
