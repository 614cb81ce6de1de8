"""Tests for addons.usage: the bytes a categorised request moved to the site and back.

Flows go through Enforce and then Usage, hook by hook in the order mitmproxy calls them,
so the decision Usage reads is the one Enforce made and left in `flow.metadata`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from mitmproxy import http
from mitmproxy.proxy.layers.http import (
    HttpRequestHeadersHook,
    HttpRequestHook,
    HttpResponseHeadersHook,
    HttpResponseHook,
)

from addons.enforce import Enforce
from addons.protocols import Nobody
from addons.usage import Usage
from addons.who import METADATA_KEY, FlowNotes, Who
from tests.addons.addon_context import addon_context
from tests.addons.fakes import CLIENT, NAVIGATE, PUBLISHER, TRAINED, make_leeway, request_flow
from tests.policy.samples import NOW

XHR = {"Sec-Fetch-Mode": "cors", "Accept": "application/json"}
BIG = 5_000_000  # bytes: a streamed video or upload, never held whole

type Transfer = tuple[str | None, str, int]


@dataclass
class Transfers(Nobody):
    """An observer that keeps what it is told about bytes."""

    seen: list[Transfer] = field(default_factory=list)

    def transferred(self, category: str | None, direction: str, size: int) -> None:
        self.seen.append((category, direction, size))


def site_response(content: bytes | None, length: int | None = None) -> http.Response:
    """What the site answers; `content` None: the body was streamed, not kept."""
    response = http.Response.make(200, b"", {"Content-Type": "application/json"})
    response.raw_content = content  # unlike `content`, leaves Content-Length alone
    if length is not None or content is not None:
        announced = length if length is not None else len(content or b"")
        response.headers["Content-Length"] = str(announced)
    else:
        del response.headers["Content-Length"]
    return response


def run(
    flow: http.HTTPFlow,
    answer: http.Response,
    *,
    user: str | None = "tess",
    enforce: bool = True,
) -> list[Transfer]:
    """Send `flow` through Enforce (unless not) and Usage as `user`; a request they let
    through gets `answer` from the site. What Usage reported."""
    observer = Transfers()
    usage = Usage(observer)
    leeway = make_leeway({"tess": TRAINED, "pat": PUBLISHER})
    addons = (Enforce(leeway, now=lambda: NOW), usage) if enforce else (usage,)
    if user is not None:
        flow.metadata[METADATA_KEY] = FlowNotes(Who(user, "proxyauth", CLIENT))

    async def cycle() -> None:
        with addon_context(*addons) as tctx:
            hooks = tctx.master.addons
            await hooks.handle_lifecycle(HttpRequestHeadersHook(flow))
            await hooks.handle_lifecycle(HttpRequestHook(flow))
            if flow.response is None:  # let through: the site answers
                flow.response = answer
            await hooks.handle_lifecycle(HttpResponseHeadersHook(flow))
            await hooks.handle_lifecycle(HttpResponseHook(flow))

    asyncio.run(cycle())
    return observer.seen


def test_an_allowed_request_reports_its_bytes_up_and_down() -> None:
    flow = request_flow("www.facebook.com", method="POST", headers=XHR, content=b"p" * 10)
    seen = run(flow, site_response(b"r" * 25), user="pat")  # a publisher: may post
    assert seen == [("social", "up", 10), ("social", "down", 25)]
    assert flow.metadata[METADATA_KEY].decision.category == "social"


def test_a_read_reports_what_came_down() -> None:
    flow = request_flow("www.facebook.com", headers=XHR)
    assert run(flow, site_response(b"r" * 25)) == [("social", "up", 0), ("social", "down", 25)]


@pytest.mark.parametrize(
    ("host", "method", "headers", "user", "enforce"),
    [
        pytest.param("www.example.org", "GET", XHR, "tess", True, id="uncategorised"),
        pytest.param("www.facebook.com", "GET", XHR, "tess", False, id="no decision"),
        pytest.param("www.facebook.com", "GET", NAVIGATE, "ann", True, id="warning page"),
        pytest.param("www.facebook.com", "POST", XHR, "tess", True, id="write warned"),
        pytest.param("www.facebook.com", "POST", XHR, None, True, id="write blocked"),
    ],
)
def test_nothing_is_reported_without_a_categorised_request_that_reached_the_site(
    host: str, method: str, headers: dict[str, str], user: str | None, enforce: bool
) -> None:
    flow = request_flow(host, method=method, headers=headers, content=b"p" * 10)
    assert run(flow, site_response(b"r" * 25), user=user, enforce=enforce) == []


def test_streamed_bodies_count_their_announced_length() -> None:
    flow = request_flow("www.facebook.com", method="POST", headers=XHR)
    flow.request.headers["Content-Length"] = str(BIG)
    flow.request.stream = True  # as Stream marks it: the body goes on as it comes
    flow.request.raw_content = None
    seen = run(flow, site_response(None, length=2 * BIG), user="pat")
    assert seen == [("social", "up", BIG), ("social", "down", 2 * BIG)]


def test_a_streamed_body_of_unknown_length_counts_nothing_rather_than_a_guess() -> None:
    flow = request_flow("www.facebook.com", headers=XHR)
    response = site_response(None)
    response.headers["Transfer-Encoding"] = "chunked"
    assert run(flow, response) == [("social", "up", 0), ("social", "down", 0)]
