"""Tests for addons.identity: who sent a request, and what identity data never leaves."""

from __future__ import annotations

import asyncio
import ipaddress
import logging

import pytest
from mitmproxy import http
from mitmproxy.addons.proxyauth import mkauth
from mitmproxy.proxy.layers.http import HttpRequestHeadersHook

from addons.identity import Identity
from addons.signin import SignIn
from addons.signin_checks import SignInChecks
from addons.who import METADATA_KEY, Who
from tests.addons.addon_context import addon_context
from tests.addons.fakes import connect_flow, make_leeway, request_flow

HEADER = "X-Authenticated-User"
TRUSTED = (ipaddress.ip_network("10.9.0.0/16"), ipaddress.ip_network("2001:db8::/32"))
GATEWAY = "10.9.0.1"  # an upstream authenticating proxy
DESK = "10.0.0.5"  # an ordinary client


def _identity(addresses: dict[str, str] | None = None) -> Identity:
    leeway = make_leeway(addresses=addresses, trusted_header=HEADER, trusted_peers=TRUSTED)
    return Identity(leeway)


def _identify(identity: Identity, flow: http.HTTPFlow) -> Who:
    identity.requestheaders(flow)
    who = flow.metadata[METADATA_KEY].who
    assert isinstance(who, Who)
    return who


def test_proxyauth_login_wins_over_header_and_address_map() -> None:
    identity = _identity(addresses={GATEWAY: "desk-user"})
    flow = request_flow("example.org", client=GATEWAY, headers={HEADER: "bob"})
    flow.metadata["proxyauth"] = ("alice", "secret")
    assert _identify(identity, flow) == Who("alice", "proxyauth", GATEWAY)
    assert HEADER not in flow.request.headers


def test_trusted_header_is_believed_from_a_trusted_peer_and_removed() -> None:
    flow = request_flow("example.org", client=GATEWAY, headers={HEADER: " bob "})
    assert _identify(_identity(), flow) == Who("bob", "header", GATEWAY)
    assert HEADER not in flow.request.headers


def test_trusted_header_from_anyone_else_is_ignored_logged_and_removed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    identity = _identity(addresses={DESK: "desk-user"})
    flow = request_flow("example.org", client=DESK, headers={HEADER: "ceo"})
    with caplog.at_level(logging.WARNING, logger="leeway.identity"):
        who = _identify(identity, flow)
    assert who == Who("desk-user", "address", DESK)
    assert HEADER not in flow.request.headers
    assert f"untrusted peer {DESK}" in caplog.text


def test_an_empty_trusted_header_identifies_nobody() -> None:
    flow = request_flow("example.org", client=GATEWAY, headers={HEADER: "   "})
    assert _identify(_identity(), flow).username is None


def test_ipv4_mapped_ipv6_peer_matches_an_ipv4_trusted_network() -> None:
    client = "::ffff:10.9.3.4"
    flow = request_flow("example.org", client=client, headers={HEADER: "bob"})
    assert _identify(_identity(), flow) == Who("bob", "header", client)


def test_ipv6_peer_outside_the_trusted_networks_is_not_believed() -> None:
    flow = request_flow("example.org", client="2001:db9::1", headers={HEADER: "bob"})
    assert _identify(_identity(), flow).username is None


def test_identity_established_at_connect_carries_to_requests_in_the_tunnel() -> None:
    identity = _identity(addresses={GATEWAY: "gateway-box"})
    connect = connect_flow("www.facebook.com", client=GATEWAY)
    connect.request.headers[HEADER] = "bob"
    identity.http_connect(connect)
    assert connect.metadata[METADATA_KEY].who == Who("bob", "header", GATEWAY)
    assert HEADER not in connect.request.headers

    inside = request_flow("www.facebook.com", client=GATEWAY)
    inside.client_conn = connect.client_conn
    assert _identify(identity, inside) == Who("bob", "header", GATEWAY)

    # Another connection from the same peer did not CONNECT as bob.
    other = request_flow("www.facebook.com", client=GATEWAY)
    assert _identify(identity, other) == Who("gateway-box", "address", GATEWAY)


def test_address_map_is_the_fallback() -> None:
    flow = request_flow("example.org", client=DESK)
    assert _identify(_identity(addresses={DESK: "carol"}), flow) == Who("carol", "address", DESK)


def test_nobody_is_decided_by_client_address() -> None:
    who = _identify(_identity(), request_flow("example.org", client=DESK))
    assert who == Who(None, "none", DESK)
    assert who.principal == f"addr:{DESK}"


def test_proxy_credentials_never_reach_the_site() -> None:
    flow = request_flow(
        "example.org", headers={"Proxy-Authorization": mkauth("alice", "secret"), "Accept": "*/*"}
    )
    _identify(_identity(), flow)
    assert "Proxy-Authorization" not in flow.request.headers
    assert flow.request.headers["Accept"] == "*/*"


def test_identity_fields_go_whatever_their_case_and_however_often_they_come() -> None:
    flow = request_flow("example.org", headers={"Accept": "*/*"})
    for name in ("proxy-authorization", "PROXY-AUTHORIZATION", "x-authenticated-user"):
        flow.request.headers.add(name, "secret")
    _identify(_identity(), flow)
    assert flow.request.headers.fields == ((b"Host", b"example.org"), (b"Accept", b"*/*"))


def test_signin_then_identity_on_a_plain_http_request() -> None:
    def check(username: str, password: str) -> str | None:
        return username.lower() if password == "secret" else None

    async def scenario() -> None:
        signin = SignIn(SignInChecks(check))
        with addon_context(signin, _identity()) as tctx:
            flow = request_flow(
                "example.org", headers={"Proxy-Authorization": mkauth("Alice", "secret")}
            )
            await tctx.master.addons.handle_lifecycle(HttpRequestHeadersHook(flow))
            assert flow.response is None
            assert flow.metadata[METADATA_KEY].who == Who("alice", "proxyauth", DESK)
            assert "Proxy-Authorization" not in flow.request.headers

            refused = request_flow(
                "example.org", headers={"Proxy-Authorization": mkauth("alice", "guess")}
            )
            await tctx.master.addons.handle_lifecycle(HttpRequestHeadersHook(refused))
            assert refused.response is not None
            assert refused.response.status_code == 407
            assert refused.metadata[METADATA_KEY].who.username is None
            assert "Proxy-Authorization" not in refused.request.headers

    asyncio.run(scenario())
