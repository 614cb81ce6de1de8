"""Tests for addons.portal: the proxy answers its access page itself, for the person asking."""

from __future__ import annotations

import asyncio
import logging

import pytest

from addons.portal import Portal, connected
from tests.addons.fakes import DictEntitlements, connect_flow, make_leeway, request_flow
from tests.addons.portal_support import (
    JSON,
    PORTAL,
    MemoryRequests,
    as_user,
    document,
    portal,
    run,
    status,
    text,
    visit,
)
from tests.policy.samples import NOW

PRIVATE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Referrer-Policy": "same-origin",
}


@pytest.mark.parametrize("target", [PORTAL, "Leeway.Internal."])
def test_a_connect_to_the_portal_is_answered_here_without_a_site(target: str) -> None:
    flow = connect_flow(target)
    portal().http_connect(flow)
    assert flow.response is not None and flow.response.status_code == 200
    assert list(flow.response.headers.keys()) == []  # as mitmproxy answers it
    elsewhere = connect_flow("www.example.org")
    portal().http_connect(elsewhere)
    assert elsewhere.response is None


def test_the_connect_answer_is_mitmproxys_own() -> None:
    flow = connect_flow(PORTAL)
    assert (connected(flow).reason, connected(flow).content) == ("Connection established", b"")


def test_other_hosts_are_left_alone() -> None:
    addon = portal()
    flow = request_flow("www.facebook.com", method="POST", path="/requests")
    assert addon.requestheaders(flow) is None and addon.request(flow) is None
    assert flow.response is None


def test_an_unidentified_visitor_sees_what_everyone_is_asked_and_nothing_personal() -> None:
    flow = visit(portal(), headers=JSON)
    got = document(flow)
    assert status(flow) == 200
    assert (got["identified"], got["person"], got["requests"], got["roles"]) == (
        False, None, [], [],
    )  # fmt: skip
    social = next(c for c in got["categories"] if c["name"] == "social")
    assert (social["read"]["action"], social["write"]["action"]) == ("warn", "block")
    assert [r["rule"] for r in social["rules"]] == ["publishers", "trained", "everyone"]
    assert all("state" not in course for course in got["courses"])
    assert all(r["request_url"] is None for r in social["read"]["remedy"]["roles"])
    page = text(visit(portal()))
    assert "The proxy does not know who you are" in page and "What opens social sites" in page


def test_an_identified_person_sees_their_own_standing() -> None:
    requests = MemoryRequests()
    addon = portal(requests)
    got = document(visit(addon, user="tess", headers=JSON))
    assert got["person"]["username"] == "tess"
    assert got["person"]["identified_by_text"] == "signed in to the proxy"
    social = next(c for c in got["categories"] if c["name"] == "social")
    assert (social["read"]["action"], social["write"]["action"]) == ("allow", "warn")
    roles = social["write"]["remedy"]["roles"]
    assert roles == [
        {
            "role": "comms-publisher",
            "requestable": True,
            "request_url": "/request?category=social&role=comms-publisher",
            "pending_request": None,
        }
    ]
    basics = next(c for c in got["courses"] if c["key"] == "basics")
    assert basics["state"] == "valid" and basics["completed_at"].startswith("2026-10-26")
    page = text(visit(addon, user="tess"))
    assert "You are <strong>tess</strong>" in page
    assert 'href="/request?category=social&amp;role=comms-publisher"' in page


@pytest.mark.parametrize(
    ("via", "words"),
    [
        ("proxyauth", "signed in to the proxy"),
        ("header", "the upstream sign-in header"),
        ("address", "the address map"),
    ],
)
def test_the_page_says_how_the_proxy_knows_the_person(via: str, words: str) -> None:
    flow = as_user(request_flow(PORTAL), "tess", via)
    run(portal().requestheaders(flow))
    assert words in text(flow)


def test_no_parameter_shows_another_persons_page() -> None:
    addon = portal()
    for path in ("/?user=pat", "/?username=pat&as=pat", "/pat"):
        flow = visit(addon, path, user="tess", headers=JSON)
        if status(flow) == 200:
            assert document(flow)["person"]["username"] == "tess"
        else:
            assert status(flow) == 404


def test_every_answer_is_private_and_never_readable_by_another_origin() -> None:
    addon = portal(MemoryRequests())
    for flow in (
        visit(addon, user="tess"),
        visit(addon, user="tess", headers={**JSON, "Origin": "https://evil.example"}),
        visit(addon, "/nowhere"),
        visit(addon, "/request?category=social&role=comms-publisher", user="tess"),
    ):
        assert flow.response is not None
        headers = flow.response.headers
        assert {name: headers.get(name) for name in PRIVATE_HEADERS} == PRIVATE_HEADERS
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert not [name for name in headers if name.lower().startswith("access-control-")]


@pytest.mark.parametrize(
    ("accept", "json"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("text/html,application/xhtml+xml,*/*;q=0.8", False),
        ("*/*", False),
        ("application/json, text/html", False),
        ("", False),
    ],
)
def test_json_only_when_asked_for_explicitly(accept: str, json: bool) -> None:
    flow = visit(portal(), user="tess", headers={"Accept": accept})
    assert flow.response is not None
    content_type = flow.response.headers["Content-Type"]
    assert content_type == ("application/json" if json else "text/html; charset=utf-8")


def test_a_store_outage_says_so_with_503_never_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    down = MemoryRequests()
    down.down = True
    flow = visit(portal(down), user="tess", headers=JSON)
    assert status(flow) == 503 and document(flow)["records_available"] is False
    assert document(flow)["person"]["username"] == "tess"  # what is known is still shown
    leeway = make_leeway(entitlements=DictEntitlements(degraded=True))
    degraded = Portal(leeway, now=lambda: NOW)
    page = visit(degraded, user="tess")
    assert status(page) == 503
    assert "Your records can&#39;t be read just now" in text(page)
    assert document(visit(degraded, user="tess", headers=JSON))["records_available"] is False
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("PUT", "/", 405),
        ("DELETE", "/requests/1", 405),
        ("POST", "/", 405),
        ("GET", "/requests", 405),
        ("GET", "/nowhere", 404),
        ("GET", "/requests/x", 404),
        ("POST", "/nowhere", 404),
    ],
)
def test_unknown_paths_are_404_and_other_methods_405(method: str, path: str, code: int) -> None:
    flow = visit(portal(MemoryRequests()), path, user="tess", method=method)
    assert status(flow) == code
    if code == 405:
        assert flow.response is not None and "Allow" in flow.response.headers


def test_head_gets_the_headers_and_no_body() -> None:
    flow = visit(portal(), method="HEAD", user="tess")
    assert status(flow) == 200 and flow.response is not None
    assert flow.response.content == b""


def test_a_request_is_shown_to_its_person_only() -> None:
    requests = MemoryRequests()
    addon = portal(requests)
    asyncio.run(requests.ask("tess", "social", "comms-publisher", "press <b>office</b>", NOW))
    mine = visit(addon, "/requests/1", user="tess")
    assert status(mine) == 200
    assert "press &lt;b&gt;office&lt;/b&gt;" in text(mine)
    for other in ("pat", None):
        assert status(visit(addon, "/requests/1", user=other)) == 404
    requests.decide(1, "denied", "Use the press office's account.")
    page = text(visit(addon, "/requests/1", user="tess"))
    assert "Your request was denied" in page and "Use the press office" in page
    listed = document(visit(addon, user="tess", headers=JSON))["requests"]
    assert [(r["state"], r["reason"]) for r in listed] == [
        ("denied", "Use the press office's account.")
    ]


def test_the_request_form_page() -> None:
    requests = MemoryRequests()
    addon = portal(requests)
    path = "/request?category=social&role=comms-publisher"
    page = text(visit(addon, path, user="tess"))
    assert 'action="http://leeway.internal/requests"' in page
    assert 'name="justification" required maxlength="500"' in page
    assert status(visit(addon, path)) == 403  # nobody to ask for
    assert status(visit(addon, "/request?category=social&role=admin", user="tess")) == 404
    assert status(visit(addon, "/request?category=news&role=comms-publisher", user="tess")) == 404
    asyncio.run(requests.ask("tess", "social", "comms-publisher", "press", NOW))
    again = text(visit(addon, path, user="tess"))
    assert "You have already asked for this role" in again and "<form" not in again


def test_a_visit_is_logged_without_its_query(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="leeway.portal")
    visit(portal(), "/?secret=s3cret", user="tess")
    assert "access page: GET / -> 200" in caplog.text
    assert "s3cret" not in caplog.text and "tess" not in caplog.text
