"""Tests for addons.signin: mitmproxy's proxy-auth protocol, checked off the event loop."""

from __future__ import annotations

import asyncio
import threading

from mitmproxy import http
from mitmproxy.addons.proxyauth import mkauth
from mitmproxy.proxy.layers.http import HttpConnectHook, HttpRequestHeadersHook

from addons.signin import METADATA_KEY, SignIn
from addons.signin_checks import SignInChecks
from tests.addons.addon_context import addon_context
from tests.addons.fakes import connect_flow, request_flow

PASSWORD = "secret"


class Checks:
    """A blocking check that knows every user with PASSWORD, and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.threads: set[str] = set()

    def __call__(self, username: str, password: str) -> str | None:
        self.calls += 1
        self.threads.add(threading.current_thread().name)
        return username.lower() if password == PASSWORD else None


def with_login(flow: http.HTTPFlow, username: str, password: str) -> http.HTTPFlow:
    flow.request.headers["Proxy-Authorization"] = mkauth(username, password)
    return flow


def test_good_credentials_sign_in_with_the_canonical_name_and_are_removed() -> None:
    checks = Checks()

    async def scenario() -> None:
        signin = SignIn(SignInChecks(checks))
        with addon_context(signin) as tctx:
            flow = with_login(request_flow("example.org"), "Alice", PASSWORD)
            await tctx.master.addons.handle_lifecycle(HttpRequestHeadersHook(flow))
            assert flow.response is None
            assert flow.metadata[METADATA_KEY] == ("alice", "")  # no password kept
            assert "Proxy-Authorization" not in flow.request.headers

    asyncio.run(scenario())
    assert checks.calls == 1
    assert checks.threads and threading.main_thread().name not in checks.threads


def test_missing_malformed_or_wrong_credentials_get_407() -> None:
    async def scenario() -> None:
        signin = SignIn(SignInChecks(Checks()))
        with addon_context(signin) as tctx:
            flows = [
                request_flow("example.org"),
                request_flow("example.org", headers={"Proxy-Authorization": "Basic !!!"}),
                request_flow("example.org", headers={"Proxy-Authorization": "Bearer x"}),
                with_login(request_flow("example.org"), "alice", "guess"),
                with_login(request_flow("example.org"), "alice", "pass:word"),
            ]
            for flow in flows:
                await tctx.master.addons.handle_lifecycle(HttpRequestHeadersHook(flow))
                assert flow.response is not None
                assert flow.response.status_code == 407
                assert flow.response.headers["Proxy-Authenticate"] == 'Basic realm="mitmproxy"'
                assert METADATA_KEY not in flow.metadata

    asyncio.run(scenario())


def test_a_remembered_login_is_signed_in_without_a_coroutine() -> None:
    checks = Checks()

    async def scenario() -> None:
        signin = SignIn(SignInChecks(checks))
        first = with_login(request_flow("example.org"), "alice", PASSWORD)
        pending = signin.requestheaders(first)
        assert pending is not None
        await pending
        again = with_login(request_flow("example.org"), "alice", PASSWORD)
        assert signin.requestheaders(again) is None  # answered at once
        assert again.metadata[METADATA_KEY] == ("alice", "")
        assert "Proxy-Authorization" not in again.request.headers

    asyncio.run(scenario())
    assert checks.calls == 1


def test_a_connects_login_holds_for_the_requests_in_its_tunnel() -> None:
    async def scenario() -> None:
        signin = SignIn(SignInChecks(Checks()))
        with addon_context(signin) as tctx:
            connect = with_login(connect_flow("www.facebook.com"), "Alice", PASSWORD)
            await tctx.master.addons.handle_lifecycle(HttpConnectHook(connect))
            assert connect.response is None
            inside = request_flow("www.facebook.com")
            inside.client_conn = connect.client_conn
            await tctx.master.addons.handle_lifecycle(HttpRequestHeadersHook(inside))
            assert inside.response is None
            assert inside.metadata[METADATA_KEY] == ("alice", "")

            refused = with_login(connect_flow("www.facebook.com"), "alice", "guess")
            await tctx.master.addons.handle_lifecycle(HttpConnectHook(refused))
            assert refused.response is not None
            assert refused.response.status_code == 407

    asyncio.run(scenario())


def test_a_flow_already_answered_is_left_alone() -> None:
    async def scenario() -> None:
        signin = SignIn(SignInChecks(Checks()))
        flow = request_flow("example.org")
        flow.response = http.Response.make(403)
        assert signin.requestheaders(flow) is None
        assert flow.response.status_code == 403

    asyncio.run(scenario())


def test_a_client_in_the_address_map_may_go_without_credentials() -> None:
    async def scenario() -> None:
        signin = SignIn(SignInChecks(Checks()), mapped=lambda client: client == "10.0.0.3")
        mapped = request_flow("example.org", client="10.0.0.3")
        assert signin.requestheaders(mapped) is None
        assert mapped.response is None
        assert METADATA_KEY not in mapped.metadata  # Identity knows it by its address
        guessed = with_login(request_flow("example.org", client="10.0.0.3"), "bob", "guess")
        pending = signin.requestheaders(guessed)
        assert pending is not None
        await pending
        assert guessed.response is not None  # credentials sent are checked all the same
        assert guessed.response.status_code == 407
        other = request_flow("example.org", client="10.0.0.4")
        signin.requestheaders(other)
        assert other.response is not None
        assert other.response.status_code == 407

    asyncio.run(scenario())
