"""Tests for addons.portal_http: JSON only when asked for, and whose Origin a form carries."""

from __future__ import annotations

import pytest
from mitmproxy import http

from addons.portal_http import CROSS_SITE, origin_host, portal_base, wants_json
from tests.addons.fakes import make_leeway, request_flow


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("application/json", True),
        ("Application/JSON;q=0.9", True),
        ("application/json, */*", True),
        ("application/json, text/html", False),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", False),
        ("*/*", False),
        ("application/problem+json", False),
        ("", False),
    ],
)
def test_wants_json(accept: str, expected: bool) -> None:
    assert wants_json(accept) is expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({}, None, id="no browser: a script"),
        pytest.param({"Sec-Fetch-Site": "same-origin"}, None, id="same origin, unnamed"),
        pytest.param({"Sec-Fetch-Site": "none"}, None, id="typed by the person"),
        pytest.param({"Sec-Fetch-Site": "cross-site"}, CROSS_SITE, id="cross-site, unnamed"),
        pytest.param({"Sec-Fetch-Site": "same-site"}, CROSS_SITE, id="same-site is another origin"),
        pytest.param({"Origin": "null"}, CROSS_SITE, id="opaque"),
        pytest.param({"Origin": "https://WWW.Facebook.com:8443"}, "www.facebook.com", id="named"),
        pytest.param({"Origin": "http://leeway.internal."}, "leeway.internal", id="trailing dot"),
        pytest.param({"Origin": "http://[::1"}, CROSS_SITE, id="malformed"),
    ],
)
def test_origin_host(headers: dict[str, str], expected: object) -> None:
    fields = [(name.encode(), value.encode()) for name, value in headers.items()]
    assert origin_host(http.Headers(fields)) == expected


def test_the_portal_is_named_in_the_scheme_of_the_request() -> None:
    leeway = make_leeway()
    assert portal_base(leeway, request_flow("www.facebook.com")) == "http://leeway.internal/"
    tls = request_flow("www.facebook.com", sni="www.facebook.com")
    assert portal_base(leeway, tls) == "https://leeway.internal/"
