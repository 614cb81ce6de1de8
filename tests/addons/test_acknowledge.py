"""Tests for addons.acknowledge: the Continue button's handler."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from mitmproxy import http

from addons import tokens
from addons.acknowledge import MAX_FORM, Acknowledge
from addons.context import CONTINUE_PATH, Leeway
from addons.enforce import Enforce
from addons.who import METADATA_KEY, FlowNotes, Who
from policy.subject import Acknowledgement
from tests.addons.addon_context import addon_context
from tests.addons.fakes import (
    CLIENT,
    KEY,
    NAVIGATE,
    TRAINED,
    RecordedAck,
    RecordingAcknowledgements,
    make_leeway,
    request_flow,
)
from tests.policy.samples import NOW

HOST = "www.facebook.com"
TTL = timedelta(hours=8)  # the test policy's acknowledgement_ttl


def token(
    principal: str = "tess", category: str = "social", issued: timedelta = timedelta()
) -> str:
    return tokens.issue(
        KEY,
        principal=principal,
        category=category,
        now=NOW - issued,
        lifetime=timedelta(minutes=30),
    )


def continue_flow(
    form: dict[str, str],
    *,
    user: str | None = "tess",
    host: str = HOST,
    method: str = "POST",
    client: str = CLIENT,
    headers: dict[str, str] | None = None,
) -> http.HTTPFlow:
    body = urlencode(form).encode()
    flow = request_flow(
        host,
        method=method,
        path=CONTINUE_PATH,
        content=body,
        client=client,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Sec-Fetch-Site": "same-origin",
            **(headers or {}),
        },
    )
    if user is not None:
        flow.metadata[METADATA_KEY] = FlowNotes(Who(user, "proxyauth", client))
    return flow


def run(addon: Acknowledge | Enforce, flow: http.HTTPFlow) -> http.HTTPFlow:
    async def cycle() -> None:
        with addon_context(addon) as tctx:
            await tctx.cycle(addon, flow)

    asyncio.run(cycle())
    return flow


def acknowledge(leeway: Leeway, flow: http.HTTPFlow) -> http.HTTPFlow:
    return run(Acknowledge(leeway, now=lambda: NOW), flow)


def recorded(leeway: Leeway) -> list[RecordedAck]:
    recorder = leeway.acknowledgements
    assert isinstance(recorder, RecordingAcknowledgements)
    return recorder.calls


def status(flow: http.HTTPFlow) -> int:
    assert flow.response is not None
    return flow.response.status_code


def test_get_on_the_reserved_path_is_405() -> None:
    leeway = make_leeway({"tess": TRAINED})
    flow = acknowledge(leeway, continue_flow({"token": token()}, method="GET"))
    assert status(flow) == 405
    assert recorded(leeway) == []


def test_a_cross_site_post_is_refused() -> None:
    leeway = make_leeway({"tess": TRAINED})
    flow = continue_flow({"token": token()}, headers={"Sec-Fetch-Site": "cross-site"})
    assert status(acknowledge(leeway, flow)) == 403
    assert recorded(leeway) == []


def test_a_valid_token_records_the_acknowledgement_and_goes_back() -> None:
    leeway = make_leeway({"tess": TRAINED})
    flow = acknowledge(leeway, continue_flow({"token": token(), "next": "/groups?id=7"}))
    assert status(flow) == 303
    assert flow.response is not None
    assert flow.response.headers["Location"] == "/groups?id=7"
    assert recorded(leeway) == [RecordedAck("tess", "social", NOW, TTL, CLIENT)]


def test_a_continue_without_fetch_metadata_is_accepted() -> None:
    leeway = make_leeway({"tess": TRAINED})
    flow = continue_flow({"token": token()})
    del flow.request.headers["Sec-Fetch-Site"]
    assert status(acknowledge(leeway, flow)) == 303


@pytest.mark.parametrize(
    "target",
    ["//evil.example/x", "https://evil.example/", "/\\evil.example", "groups", "/a b", ""],
)
def test_an_unsafe_next_goes_to_the_sites_root(target: str) -> None:
    leeway = make_leeway({"tess": TRAINED})
    flow = acknowledge(leeway, continue_flow({"token": token(), "next": target}))
    assert status(flow) == 303
    assert flow.response is not None
    assert flow.response.headers["Location"] == "/"


@pytest.mark.parametrize(
    "form",
    [
        pytest.param(
            {"token": tokens.issue(b"f" * 32, principal="tess", category="social", now=NOW)},
            id="forged",
        ),
        pytest.param({"token": token(issued=timedelta(minutes=31))}, id="expired"),
        pytest.param({"token": token(principal="mallory")}, id="other principal"),
        pytest.param({"token": token(principal=f"addr:{CLIENT}")}, id="anonymous token"),
        pytest.param({"token": "not-a-token"}, id="malformed"),
        pytest.param({}, id="missing"),
    ],
)
def test_a_bad_token_is_refused_and_nothing_is_recorded(form: dict[str, str]) -> None:
    leeway = make_leeway({"tess": TRAINED})
    flow = acknowledge(leeway, continue_flow(form))
    assert status(flow) == 403
    assert flow.response is not None
    assert "cannot be used" in (flow.response.text or "")
    assert recorded(leeway) == []


def test_a_token_for_a_category_the_host_is_not_in_is_refused() -> None:
    leeway = make_leeway({"tess": TRAINED})
    flow = acknowledge(leeway, continue_flow({"token": token(category="rich-media")}))
    assert status(flow) == 403
    assert flow.response is not None
    assert "for another site" in (flow.response.text or "")
    assert recorded(leeway) == []


def test_a_token_posted_to_an_uncategorised_host_is_refused() -> None:
    leeway = make_leeway({"tess": TRAINED})
    flow = acknowledge(leeway, continue_flow({"token": token()}, host="example.org"))
    assert status(flow) == 403
    assert recorded(leeway) == []


def test_an_oversized_form_is_not_read() -> None:
    leeway = make_leeway({"tess": TRAINED})
    flow = continue_flow({"token": token(), "pad": "x" * MAX_FORM})
    assert status(acknowledge(leeway, flow)) == 403
    assert recorded(leeway) == []


def test_other_paths_are_not_touched() -> None:
    leeway = make_leeway({"tess": TRAINED})
    flow = request_flow(HOST, method="POST", path="/.well-known/leeway/continued")
    assert acknowledge(leeway, flow).response is None


def test_after_continue_the_users_next_page_load_is_allowed() -> None:
    leeway = make_leeway({})
    enforce = Enforce(leeway, now=lambda: NOW)

    def page() -> http.HTTPFlow:
        flow = request_flow(HOST, headers=NAVIGATE)
        flow.metadata[METADATA_KEY] = FlowNotes(Who("ada", "proxyauth", CLIENT))
        return run(enforce, flow)

    assert status(page()) == 403
    flow = acknowledge(leeway, continue_flow({"token": token("ada")}, user="ada"))
    assert status(flow) == 303
    assert page().response is None


def test_an_unidentified_clients_continue_is_kept_in_memory_by_address() -> None:
    leeway = make_leeway({})
    enforce = Enforce(leeway, now=lambda: NOW)
    principal = f"addr:{CLIENT}"
    flow = acknowledge(leeway, continue_flow({"token": token(principal)}, user=None))
    assert status(flow) == 303
    assert recorded(leeway) == []
    [ack] = leeway.anonymous_acks.of(principal)
    assert (ack.category, ack.acknowledged_at, ack.expires_at) == ("social", NOW, NOW + TTL)

    again = run(enforce, request_flow(HOST, headers=NAVIGATE))
    assert again.response is None
    assert again.metadata[METADATA_KEY].decision.reason == "acknowledged"

    neighbour = run(enforce, request_flow(HOST, headers=NAVIGATE, client="10.0.0.6"))
    assert status(neighbour) == 403


def test_an_anonymous_token_from_another_address_is_refused() -> None:
    leeway = make_leeway({})
    form = {"token": token(f"addr:{CLIENT}")}
    flow = acknowledge(leeway, continue_flow(form, user=None, client="10.0.0.6"))
    assert status(flow) == 403
    assert len(leeway.anonymous_acks) == 0


class HeardBySiblings:
    """The other worker processes, as `leeway run --workers N` tells them of a Continue."""

    def __init__(self) -> None:
        self.told: list[tuple[str | None, str, Acknowledgement]] = []

    def acknowledged(self, username: str | None, principal: str, ack: Acknowledgement) -> None:
        self.told.append((username, principal, ack))


@pytest.mark.parametrize(
    ("user", "principal"), [("ada", "ada"), (None, f"addr:{CLIENT}")], ids=["user", "anonymous"]
)
def test_a_continue_is_passed_to_the_other_workers_and_honoured_there(
    user: str | None, principal: str
) -> None:
    here, there = make_leeway({}), make_leeway({})
    here.siblings = siblings = HeardBySiblings()
    flow = acknowledge(here, continue_flow({"token": token(principal)}, user=user))
    assert status(flow) == 303
    [(username, told_principal, ack)] = siblings.told
    assert (username, told_principal, ack.category) == (user, principal, "social")

    enforce = Enforce(there, now=lambda: NOW)

    def page() -> http.HTTPFlow:
        flow = request_flow(HOST, headers=NAVIGATE)
        if user is not None:
            flow.metadata[METADATA_KEY] = FlowNotes(Who(user, "proxyauth", CLIENT))
        return run(enforce, flow)

    assert status(page()) == 403  # the other worker warns until it hears of the Continue
    there.sibling_acknowledged(username, told_principal, ack, NOW)
    after = page()
    assert after.response is None
    assert after.metadata[METADATA_KEY].decision.reason == "acknowledged"


def test_a_refused_continue_is_not_passed_on() -> None:
    leeway = make_leeway({"tess": TRAINED})
    leeway.siblings = siblings = HeardBySiblings()
    flow = acknowledge(leeway, continue_flow({"token": token("someone-else")}))
    assert status(flow) == 403
    assert siblings.told == []


def test_a_request_that_is_no_continue_is_passed_without_a_coroutine() -> None:
    # With no coroutine among its parts' `request` hooks, the chain's is a plain call.
    assert Acknowledge(make_leeway()).request(request_flow(HOST)) is None
