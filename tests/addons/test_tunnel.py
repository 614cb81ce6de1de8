"""Tests for addons.tunnel: raw tunnels to categorised sites, and tunnels blocked at CONNECT.

The raw-tunnel tests drive mitmproxy's own layers: a tunnel's NextLayer gets the client's
first bytes, mitmproxy's NextLayer addon and then Tunnel answer the next_layer hook, and
the test reads the commands the chosen layer gives, where an OpenConnection would be the
proxy connecting to the site.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from dataclasses import dataclass, field

import pytest
from mitmproxy import connection, http, options
from mitmproxy.addons.next_layer import NextLayer
from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.proxy import commands, context, events, layer, layers, server_hooks
from mitmproxy.proxy.layers.http import HTTPMode
from mitmproxy.proxy.layers.modes import HttpProxy
from mitmproxy.test import taddons, tflow

from addons.protocols import Nobody
from addons.tunnel import Refused, Tunnel
from addons.who import METADATA_KEY, FlowNotes, Who
from policy import parse_policy
from tests.addons.addon_context import addon_context
from tests.addons.fakes import TRAINED, connect_flow, make_leeway, request_flow
from tests.policy.samples import NOW, TEST_POLICY

RAW = b"\x00\x01 a VPN handshake"
HTTP = b"GET / HTTP/1.1\r\nHost: www.youtube.com\r\n\r\n"
EMPTY_FIRST_LINE = b"\r\n" + HTTP


@dataclass
class Refusals(Nobody):
    """An observer that keeps the tunnels it is told were refused."""

    seen: list[tuple[str | None, str]] = field(default_factory=list)

    def tunnel_refused(self, category: str | None, reason: str) -> None:
        self.seen.append((category, reason))


def make_tunnel(*, intercept: bool = True) -> tuple[Tunnel, Refusals]:
    leeway = make_leeway({"tess": TRAINED}, intercept=intercept)
    leeway.observer = refusals = Refusals()
    return Tunnel(leeway, now=lambda: NOW), refusals


def tunnel_context(tctx: taddons.context, target: str, sni: str | None = None) -> context.Context:
    """The context of the layer after `CONNECT target:443` (and TLS with `sni`, if any)."""
    client = tflow.tclient_conn()
    client.sni, client.alpn = sni, None
    ctx = context.Context(client, tctx.options)
    HttpProxy(ctx)
    layers.HttpLayer(ctx, HTTPMode.regular)
    ctx.server.address = (target, 443)
    return ctx


def first_bytes(
    tunnel: Tunnel, payload: bytes, target: str, sni: str | None = None
) -> list[commands.Command]:
    """The commands the tunnel's next layer gives for the client's first `payload`."""
    chooser = NextLayer()
    with addon_context(chooser, tunnel, Proxyserver()) as tctx:
        ctx = tunnel_context(tctx, target, sni)
        next_layer = layer.NextLayer(ctx)
        assert list(next_layer.handle_event(events.Start())) == []
        [hook] = next_layer.handle_event(events.DataReceived(ctx.client, payload))
        assert isinstance(hook, layer.NextLayerHook)
        for addon in (chooser, tunnel):  # mitmproxy's own addons run before Leeway's
            tctx.master.addons.invoke_addon_sync(addon, hook)
        out = list(next_layer.handle_event(events.HookCompleted(hook)))
        if isinstance(next_layer.layer, layers.TCPLayer):
            # Relayed: after tcp_start comes the connection to the site.
            assert [type(c) for c in out] == [layers.tcp.TcpStartHook]
            out += list(next_layer.handle_event(events.HookCompleted(out[0])))
        return out


def connects(out: list[commands.Command]) -> bool:
    return any(isinstance(c, commands.OpenConnection) for c in out)


@pytest.mark.parametrize(
    ("payload", "target", "sni", "category"),
    [
        pytest.param(RAW, "www.youtube.com", None, "rich-media", id="raw bytes, categorised"),
        pytest.param(
            EMPTY_FIRST_LINE, "www.youtube.com", None, "rich-media", id="empty first line"
        ),
        pytest.param(b"SSH-2.0-x\r\n", "x.com", None, "social", id="ssh to a categorised site"),
        pytest.param(RAW, "example.org", "www.facebook.com", "social", id="categorised SNI"),
        pytest.param(RAW, "bad_host!.example", None, None, id="not a host name"),
    ],
)
def test_raw_bytes_to_a_categorised_name_are_closed_without_connecting(
    payload: bytes, target: str, sni: str | None, category: str | None
) -> None:
    tunnel, refusals = make_tunnel()
    out = first_bytes(tunnel, payload, target, sni)
    assert not connects(out)
    assert [type(c) for c in out] == [commands.CloseConnection]
    assert refusals.seen == [(category, "raw")]


@pytest.mark.parametrize(
    ("payload", "target"),
    [
        pytest.param(RAW, "example.org", id="raw bytes to an uncategorised site: relayed"),
        pytest.param(EMPTY_FIRST_LINE, "example.org", id="empty first line, uncategorised"),
    ],
)
def test_raw_bytes_to_an_uncategorised_site_are_still_relayed(payload: bytes, target: str) -> None:
    tunnel, refusals = make_tunnel()
    assert connects(first_bytes(tunnel, payload, target))
    assert refusals.seen == []


def test_http_to_a_categorised_site_is_left_to_the_http_layer() -> None:
    tunnel, refusals = make_tunnel()
    out = first_bytes(tunnel, HTTP, "www.youtube.com")
    assert not connects(out)  # an HTTP request is decided before anything connects
    assert any(isinstance(c, layers.http.HttpRequestHeadersHook) for c in out)
    assert refusals.seen == []


def test_the_refusal_is_logged_with_a_reference(caplog: pytest.LogCaptureFixture) -> None:
    tunnel, _ = make_tunnel()
    with caplog.at_level(logging.WARNING, logger="leeway.tunnel"):
        first_bytes(tunnel, RAW, "www.youtube.com")
    [line] = caplog.messages
    assert line.startswith("ref ") and "www.youtube.com" in line and "rich-media" in line


def test_refused_closes_the_client_once_and_a_connected_server_too() -> None:
    client = tflow.tclient_conn()
    ctx = context.Context(client, options.Options())
    ctx.server = tflow.tserver_conn()
    ctx.server.state = connection.ConnectionState.OPEN  # `connection_strategy=eager`
    refused = Refused(ctx)
    out = list(refused.handle_event(events.DataReceived(client, RAW)))
    # Each is a CloseConnection, which has `connection`; the Command they are typed as has not.
    assert [(type(c), c.connection) for c in out] == [  # type: ignore[attr-defined]
        (commands.CloseConnection, ctx.server),
        (commands.CloseConnection, client),
    ]
    assert list(refused.handle_event(events.DataReceived(client, RAW))) == []
    assert list(refused.handle_event(events.ConnectionClosed(client))) == []


def connect_as(tunnel: Tunnel, target: str, user: str | None = None) -> http.HTTPFlow:
    flow = connect_flow(target)
    if user is not None:
        flow.metadata[METADATA_KEY] = FlowNotes(Who(user, "proxyauth", "10.0.0.5"))
    asyncio.run(tunnel.http_connect(flow))
    return flow


def server_connect(
    tunnel: Tunnel, client: connection.Client, address: tuple[str, int]
) -> str | None:
    """What the hook leaves in the server connection's error (None: it may connect)."""
    server = connection.Server(address=address)
    data = server_hooks.ServerConnectionHookData(server=server, client=client)
    pending = tunnel.server_connect(data)
    if pending is not None:  # a blocked tunnel's connection is decided again

        async def wait() -> None:
            await pending

        asyncio.run(wait())
    return server.error


def test_a_tunnel_blocked_for_reading_and_writing_never_connects() -> None:
    tunnel, refusals = make_tunnel()
    flow = connect_as(tunnel, "news.example")  # no rule names news: block both ways
    assert flow.response is None, "intercepted, so that the block page can be shown"
    error = server_connect(tunnel, flow.client_conn, ("news.example", 443))
    assert error is not None and "news.example" in error
    assert refusals.seen == [("news", "blocked")]


@pytest.mark.parametrize(
    ("target", "user"),
    [
        pytest.param("www.facebook.com", None, id="read warns: left to the requests"),
        pytest.param("www.youtube.com", None, id="read warns, write blocks"),
        pytest.param("www.facebook.com", "tess", id="trained: read allowed"),
        pytest.param("example.org", None, id="uncategorised"),
    ],
)
def test_a_tunnel_not_blocked_both_ways_may_connect(target: str, user: str | None) -> None:
    tunnel, refusals = make_tunnel()
    flow = connect_as(tunnel, target, user)
    assert server_connect(tunnel, flow.client_conn, (target, 443)) is None
    assert refusals.seen == []


def test_only_that_clients_connections_to_that_target_are_refused() -> None:
    tunnel, _ = make_tunnel()
    flow = connect_as(tunnel, "news.example")
    assert server_connect(tunnel, tflow.tclient_conn(), ("news.example", 443)) is None
    assert server_connect(tunnel, flow.client_conn, ("example.org", 443)) is None
    assert server_connect(tunnel, flow.client_conn, ("news.example", 8443)) is None


def test_without_interception_the_connect_is_left_to_gate() -> None:
    tunnel, _ = make_tunnel(intercept=False)
    flow = connect_as(tunnel, "news.example")
    assert server_connect(tunnel, flow.client_conn, ("news.example", 443)) is None


def test_an_answered_connect_is_left_alone() -> None:
    tunnel, _ = make_tunnel()
    flow = connect_flow("news.example")
    flow.response = http.Response.make(407, b"login first")
    asyncio.run(tunnel.http_connect(flow))
    assert server_connect(tunnel, flow.client_conn, ("news.example", 443)) is None


def test_a_blocked_tunnel_is_forgotten_with_its_connection() -> None:
    tunnel, _ = make_tunnel()
    connect_as(tunnel, "news.example")  # the flow and its client connection are dropped
    gc.collect()
    assert len(tunnel._blocked) == 0


def test_raw_bytes_in_a_blocked_tunnel_are_logged_with_its_reference(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tunnel, refusals = make_tunnel()
    flow = connect_as(tunnel, "news.example")
    [blocked] = tunnel._blocked[flow.client_conn].values()
    with addon_context(tunnel) as tctx, caplog.at_level(logging.WARNING, logger="leeway.tunnel"):
        ctx = tunnel_context(tctx, "news.example")
        ctx.client = flow.client_conn
        next_layer = layer.NextLayer(ctx)
        next_layer.layer = layers.TCPLayer(ctx)
        tunnel.next_layer(next_layer)
    assert isinstance(next_layer.layer, Refused)
    assert caplog.messages[0].startswith(f"ref {blocked.reference}: ")
    assert refusals.seen == [("news", "raw")]


def test_a_blocked_tunnel_opens_once_a_reloaded_policy_allows_it() -> None:
    """A browser keeps a tunnel alive: what the person may do now decides, not then."""
    tunnel, refusals = make_tunnel()
    flow = connect_as(tunnel, "news.example")
    opened = TEST_POLICY + '\n[[rules]]\nname = "news"\ncategories = ["news"]\nread = "allow"\n'
    tunnel.leeway.policy = parse_policy(opened.encode(), source="test", label="policy.toml")
    assert server_connect(tunnel, flow.client_conn, ("news.example", 443)) is None
    assert tunnel._blocked[flow.client_conn] == {}
    assert refusals.seen == []


UPGRADE = {"Upgrade": "vpn/1", "Connection": "Upgrade"}


@pytest.mark.parametrize(
    ("host", "sni", "headers", "refused"),
    [
        pytest.param("www.facebook.com", "www.facebook.com", UPGRADE, True, id="other protocol"),
        pytest.param("example.org", "x.com", UPGRADE, True, id="categorised SNI"),
        pytest.param("example.org", None, UPGRADE, False, id="uncategorised: left alone"),
        pytest.param(
            "www.facebook.com",
            "www.facebook.com",
            {"Upgrade": "WebSocket", "Connection": "Upgrade"},
            False,
            id="websocket is HTTP's own",
        ),
        pytest.param("www.facebook.com", "www.facebook.com", {}, False, id="no upgrade"),
    ],
)
def test_a_switch_to_another_protocol_than_websocket_is_refused(
    host: str, sni: str | None, headers: dict[str, str], refused: bool
) -> None:
    tunnel, refusals = make_tunnel()
    flow = request_flow(host, sni=sni, headers=headers)
    tunnel.requestheaders(flow)
    assert (flow.response is not None) is refused
    if refused:
        assert flow.response is not None and flow.response.status_code == 403
        assert refusals.seen == [("social", "upgrade")]


def test_an_answered_request_is_left_alone() -> None:
    tunnel, refusals = make_tunnel()
    flow = request_flow("www.facebook.com", headers=UPGRADE)
    flow.response = http.Response.make(407, b"login first")
    tunnel.requestheaders(flow)
    assert flow.response.status_code == 407
    assert refusals.seen == []


def test_upgrade_fields_are_read_together() -> None:
    tunnel, refusals = make_tunnel()
    flow = request_flow("www.facebook.com", sni="www.facebook.com")
    flow.request.headers.add("Upgrade", "websocket")
    flow.request.headers.add("upgrade", "h2c")
    tunnel.requestheaders(flow)
    assert flow.response is not None and flow.response.status_code == 403
    assert refusals.seen == [("social", "upgrade")]


def test_a_connection_of_a_tunnel_not_blocked_is_decided_without_a_coroutine() -> None:
    tunnel, _ = make_tunnel()
    flow = connect_as(tunnel, "www.facebook.com", "tess")
    server = connection.Server(address=("www.facebook.com", 443))
    data = server_hooks.ServerConnectionHookData(server=server, client=flow.client_conn)
    assert tunnel.server_connect(data) is None
