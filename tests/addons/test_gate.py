"""Tests for addons.gate: which TLS connections are opened up, and CONNECT without interception."""

from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path
from types import SimpleNamespace

import pytest
from mitmproxy import http, options, tls
from mitmproxy.proxy import context
from mitmproxy.proxy.layers.tls import TlsClienthelloHook, parse_client_hello
from mitmproxy.test import tflow

from addons.context import DECISION_HEADER
from addons.gate import Gate
from addons.server_names import ServerNames
from addons.who import METADATA_KEY, FlowNotes, Who
from policy import Action
from policy.destinations import Address, DestinationRules
from tests.addons.addon_context import addon_context
from tests.addons.fakes import (
    PUBLISHER,
    TRAINED,
    DictEntitlements,
    connect_flow,
    count_decisions,
    counted,
    make_leeway,
)
from tests.addons.test_server_names import SITE, der_for
from tests.addons.test_tunnel import Refusals
from tests.policy.samples import NOW


def client_hello(sni: str | None) -> tls.ClientHello:
    """A real ClientHello, as Python's TLS client sends it for `sni`."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = ssl.create_default_context()
    client.check_hostname = sni is not None
    connection = client.wrap_bio(incoming, outgoing, server_hostname=sni)
    with pytest.raises(ssl.SSLWantReadError):
        connection.do_handshake()
    parsed = parse_client_hello(outgoing.read())
    assert parsed is not None
    assert parsed.sni == sni
    return parsed


def hello_data(sni: str | None, target: str | None) -> tls.ClientHelloData:
    ctx = context.Context(tflow.tclient_conn(), options.Options())
    if target is not None:
        ctx.server.address = (target, 443)
    return tls.ClientHelloData(ctx, client_hello(sni))


def _gate(
    *,
    intercept: bool = True,
    warn_without_intercept: Action = Action.BLOCK,
    server_names: ServerNames | None = None,
) -> Gate:
    leeway = make_leeway(
        {"tess": TRAINED}, intercept=intercept, warn_without_intercept=warn_without_intercept
    )
    return Gate(leeway, now=lambda: NOW, server_names=server_names or showing(None))


def showing(der: bytes | None) -> ServerNames:
    """Server names as if every name were at one public address and every server showed
    `der` (None: no certificate to read)."""

    async def one_address(host: str, port: int) -> tuple[Address, ...]:
        return (SITE,)

    async def handshake(address: Address, port: int) -> bytes | None:
        return der

    return ServerNames(DestinationRules, resolve=one_address, handshake=handshake)


def hello(gate: Gate, data: tls.ClientHelloData) -> None:
    """The hook as mitmproxy invokes it, awaited when it returns an awaitable."""
    with addon_context(gate) as tctx:
        asyncio.run(tctx.master.addons.invoke_addon(gate, TlsClienthelloHook(data)))


@pytest.mark.parametrize(
    ("sni", "target", "certified", "ignored"),
    [
        pytest.param("example.org", "example.org", None, True, id="uncategorised: passed through"),
        pytest.param(None, None, None, True, id="nothing to go by"),
        pytest.param("www.facebook.com", "www.facebook.com", None, False, id="categorised"),
        pytest.param("WWW.Facebook.COM.", None, None, False, id="categorised SNI, normalised"),
        pytest.param("example.org", "m.facebook.com", None, False, id="categorised CONNECT target"),
        pytest.param("x.com", "example.org", None, False, id="categorised SNI, other target"),
        pytest.param(None, "192.0.2.7", None, False, id="listed IP literal"),
        pytest.param("notfacebook.com", None, None, True, id="lookalike is not a subdomain"),
        # No server name: the server's certificate says what it is.
        pytest.param(None, "example.org", ["www.example.org"], True, id="no SNI, open site"),
        pytest.param(None, "192.0.2.8", ["www.example.org"], True, id="no SNI, address, open site"),
        pytest.param(
            None,
            "192.0.2.8",
            ["www.youtube.com"],
            False,
            id="no SNI, address of a categorised site",
        ),
        pytest.param(
            None,
            "fb.attacker.example",
            ["*.facebook.com"],
            False,
            id="no SNI, a name for its address",
        ),
        pytest.param(None, "192.0.2.8", None, True, id="no SNI, no certificate to read"),
        pytest.param(None, "192.0.2.8", ["Printer"], True, id="no SNI, a device's certificate"),
    ],
)
def test_only_categorised_connections_are_intercepted(
    sni: str | None,
    target: str | None,
    certified: list[str] | None,
    ignored: bool,
    tmp_path: Path,
) -> None:
    data = hello_data(sni, target)
    der = der_for(tmp_path, certified) if certified is not None else None
    hello(_gate(server_names=showing(der)), data)
    assert data.ignore_connection is ignored


def test_a_connection_decrypted_for_its_certificate_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = hello_data(None, "192.0.2.8")
    with caplog.at_level(logging.INFO, logger="leeway.gate"):
        hello(_gate(server_names=showing(der_for(tmp_path, ["www.youtube.com"]))), data)
        hello(_gate(server_names=showing(None)), hello_data(None, "192.0.2.9"))  # passed
    assert [r.getMessage() for r in caplog.records if r.name == "leeway.gate"] == [
        "no server name for 192.0.2.8:443, decrypted: its certificate is for www.youtube.com",
    ]


def test_an_address_for_a_server_name_counts_as_none(tmp_path: Path) -> None:
    """Python never sends one, other clients may: crafted here."""
    ctx = context.Context(tflow.tclient_conn(), options.Options())
    ctx.server.address = ("192.0.2.8", 443)
    data = tls.ClientHelloData(ctx, SimpleNamespace(sni="192.0.2.8"))  # type: ignore[arg-type]
    hello(_gate(server_names=showing(der_for(tmp_path, ["www.youtube.com"]))), data)
    assert data.ignore_connection is False


def test_an_invalid_connect_target_is_intercepted_so_that_it_can_be_refused() -> None:
    data = hello_data("example.org", "bad_host!.example")
    _gate().tls_clienthello(data)
    assert data.ignore_connection is False


def test_no_intercept_passes_every_connection_through() -> None:
    gate = _gate(intercept=False)
    data = hello_data("www.facebook.com", "www.facebook.com")
    opened(gate, data, "tess")
    assert gate.tls_clienthello(data) is None
    assert data.ignore_connection is True
    assert data.context.server.address == ("www.facebook.com", 443)


def opened(gate: Gate, data: tls.ClientHelloData, user: str | None = None) -> None:
    """The CONNECT that opened `data`'s tunnel, by `user` (None: unidentified), allowed."""
    assert data.context.server.address is not None
    connect = connect_flow(data.context.server.address[0])
    connect.client_conn = data.context.client
    if user is not None:
        connect.metadata[METADATA_KEY] = FlowNotes(Who(user, "proxyauth", "10.0.0.5"))
    assert _connect(gate, connect).response is None


@pytest.mark.parametrize(
    ("user", "sni", "refused"),
    [
        pytest.param(None, "news.example", "news", id="a blocked name -> no server"),
        pytest.param(None, "www.facebook.com", "social", id="a warned name -> no server"),
        pytest.param("tess", "www.facebook.com", None, id="a name she may read -> passes"),
        pytest.param(None, "example.org", None, id="another open name -> passes"),
    ],
)
def test_without_interception_a_server_name_other_than_the_connects_is_decided(
    user: str | None, sni: str, refused: str | None
) -> None:
    """A tunnel opened to an open name must not carry a handshake for a blocked site: the
    server name is decided for whoever opened the tunnel, and never decrypted."""
    leeway = make_leeway({"tess": TRAINED}, intercept=False)
    leeway.observer = refusals = Refusals()
    gate = Gate(leeway, now=lambda: NOW, server_names=showing(None))
    data = hello_data(sni, "example.org")
    opened(gate, data, user)  # the CONNECT itself is open
    hello(gate, data)
    assert data.ignore_connection is True
    assert data.context.server.address == (None if refused else ("example.org", 443))
    assert refusals.seen == ([(refused, "server_name")] if refused else [])


@pytest.mark.parametrize(
    ("target", "certified", "refused"),
    [
        pytest.param("own.example.net", ["www.youtube.com"], True, id="a blocked site's server"),
        pytest.param("own.example.net", ["www.example.org"], False, id="an open site's server"),
        pytest.param("own.example.net", None, False, id="no certificate to read"),
        pytest.param("192.0.2.8", ["www.youtube.com"], False, id="an address: decided at CONNECT"),
    ],
)
def test_without_interception_a_handshake_without_a_name_is_decided_by_certificate(
    target: str, certified: list[str] | None, refused: bool, tmp_path: Path
) -> None:
    leeway = make_leeway({"tess": TRAINED}, intercept=False)
    leeway.observer = refusals = Refusals()
    der = der_for(tmp_path, certified) if certified is not None else None
    gate = Gate(leeway, now=lambda: NOW, server_names=showing(der))
    data = hello_data(None, target)
    if target == "192.0.2.8":
        gate.server_names = showing(None)  # the CONNECT to an address finds no site...
    opened(gate, data)
    gate.server_names = showing(der)  # ...so that the handshake's check would find one
    hello(gate, data)
    assert data.ignore_connection is True
    assert data.context.server.address == (None if refused else (target, 443))
    assert refusals.seen == ([("rich-media", "server_name")] if refused else [])


def test_without_interception_the_connects_own_name_is_decided_once() -> None:
    leeway = make_leeway({"tess": TRAINED}, intercept=False)
    registry = count_decisions(leeway)
    gate = Gate(leeway, now=lambda: NOW, server_names=showing(None))
    data = hello_data("WWW.Facebook.com.", "www.facebook.com")
    opened(gate, data, "tess")
    hello(gate, data)
    assert data.context.server.address == ("www.facebook.com", 443)
    assert counted(registry, "allow", "rule_matched", "social") == 1


# Two clients with no CONNECT (SOCKS): tess by the address map, and someone unknown.
TESS, OTHER = "192.168.1.20", "192.168.1.99"


@pytest.mark.parametrize(
    ("client", "sni", "target", "certified", "refused"),
    [
        pytest.param(TESS, "www.facebook.com", "192.0.2.8", None, False, id="tess's name"),
        pytest.param(OTHER, "x.com", "192.0.2.8", None, True, id="another's name"),
        pytest.param(OTHER, None, "www.facebook.com", None, True, id="another's target"),
        pytest.param(OTHER, "www.facebook.com", "www.facebook.com", None, True, id="both"),
        pytest.param(OTHER, None, "192.0.2.8", ["x.com"], True, id="an address, no name"),
        pytest.param(OTHER, "www.example.org", "example.org", None, False, id="an open site"),
    ],
)
def test_without_interception_a_tunnel_without_a_connect_is_decided_whole(
    client: str,
    sni: str | None,
    target: str,
    certified: list[str] | None,
    refused: bool,
    tmp_path: Path,
) -> None:
    """A SOCKS client sends no CONNECT: every name is decided at the handshake, for whom
    the address map says it is."""
    leeway = make_leeway({"tess": TRAINED}, addresses={TESS: "tess"}, intercept=False)
    der = der_for(tmp_path, certified) if certified is not None else None
    gate = Gate(leeway, now=lambda: NOW, server_names=showing(der))
    data = hello_data(sni, target)
    data.context.client.peername = (client, 50123)
    hello(gate, data)
    assert data.ignore_connection is True
    assert data.context.server.address == (None if refused else (target, 443))


@pytest.mark.parametrize("intercept", [True, False], ids=["intercept", "no-intercept"])
@pytest.mark.parametrize(
    ("sni", "target"),
    [
        pytest.param("leeway.internal", "leeway.internal", id="SNI and target"),
        pytest.param(None, "Leeway.Internal", id="target alone"),
        pytest.param("leeway.internal", None, id="SNI alone"),
    ],
)
def test_the_access_page_is_always_intercepted_with_no_server_to_reach_first(
    sni: str | None, target: str | None, intercept: bool
) -> None:
    data = hello_data(sni, target)
    data.establish_server_tls_first = True  # as mitmproxy's tlsconfig sets it when eager
    _gate(intercept=intercept).tls_clienthello(data)
    assert (data.ignore_connection, data.establish_server_tls_first) == (False, False)


def _connect(gate: Gate, flow: http.HTTPFlow) -> http.HTTPFlow:
    asyncio.run(gate.http_connect(flow))
    return flow


@pytest.mark.parametrize(
    ("certified", "refused"),
    [
        pytest.param(["www.youtube.com"], True, id="a blocked site's address -> 403"),
        pytest.param(["www.example.org"], False, id="an open site's address -> passes"),
        pytest.param(None, False, id="no certificate to read -> decided as the address"),
    ],
)
def test_a_connect_to_an_address_without_interception_is_decided_as_its_site(
    certified: list[str] | None, refused: bool, tmp_path: Path
) -> None:
    der = der_for(tmp_path, certified) if certified is not None else None
    gate = _gate(intercept=False, server_names=showing(der))
    flow = _connect(gate, connect_flow("192.0.2.8"))
    if not refused:
        assert flow.response is None
        return
    assert flow.response is not None and flow.response.status_code == 403
    assert "Access to www.youtube.com is not allowed" in (flow.response.text or "")


@pytest.mark.parametrize(
    ("target", "warn_setting", "refused"),
    [
        pytest.param("news.example", Action.ALLOW, True, id="block -> 403"),
        pytest.param("www.facebook.com", Action.BLOCK, True, id="warn, setting block -> 403"),
        pytest.param("www.facebook.com", Action.ALLOW, False, id="warn, setting allow -> passes"),
        pytest.param("example.org", Action.BLOCK, False, id="uncategorised -> passes"),
    ],
)
def test_connect_without_interception_is_decided_there(
    target: str, warn_setting: Action, refused: bool
) -> None:
    gate = _gate(intercept=False, warn_without_intercept=warn_setting)
    flow = _connect(gate, connect_flow(target))
    if not refused:
        assert flow.response is None
        return
    assert flow.response is not None
    assert flow.response.status_code == 403
    assert f"Access to {target} is not allowed" in (flow.response.text or "")
    assert flow.response.headers[DECISION_HEADER].startswith(("block;", "warn;"))


def test_connect_without_interception_uses_the_identified_user() -> None:
    gate = _gate(intercept=False)
    flow = connect_flow("www.facebook.com")
    flow.metadata[METADATA_KEY] = FlowNotes(Who("tess", "proxyauth", "10.0.0.5"))
    assert _connect(gate, flow).response is None  # trained: social reading is allowed
    anonymous = _connect(gate, connect_flow("www.facebook.com"))
    assert anonymous.response is not None
    assert anonymous.response.status_code == 403


def test_connect_with_interception_is_left_to_the_requests_inside() -> None:
    assert _connect(_gate(), connect_flow("news.example")).response is None


def test_connect_already_answered_is_left_alone() -> None:
    flow = connect_flow("news.example")
    flow.response = http.Response.make(407, b"login first")
    _connect(_gate(intercept=False), flow)
    assert flow.response.status_code == 407


def test_a_failing_entitlement_source_at_connect_applies_the_fail_mode(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = DictEntitlements({"pat": PUBLISHER}, failure=RuntimeError("store exploded"))
    leeway = make_leeway(entitlements=source, intercept=False)
    flow = connect_flow("www.facebook.com")
    flow.metadata[METADATA_KEY] = FlowNotes(Who("pat", "proxyauth", "10.0.0.5"))
    with caplog.at_level(logging.ERROR, logger="leeway"):
        _connect(Gate(leeway, now=lambda: NOW), flow)
    # The publisher, decided as anonymous: a warn, refused without interception.
    assert flow.response is not None
    assert flow.response.status_code == 403
    assert (
        flow.response.headers[DECISION_HEADER] == "warn; reason=store_unavailable; category=social"
    )
    assert source.loads == ["pat"]
    assert "www.facebook.com" in caplog.text
    assert "store exploded" in caplog.text


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(DictEntitlements({"pat": PUBLISHER}, degraded=True), id="store down"),
        pytest.param(
            DictEntitlements({"pat": PUBLISHER}, failure=RuntimeError("bug")), id="source raises"
        ),
    ],
)
def test_a_fail_mode_decision_at_connect_is_counted_with_reason_store_unavailable(
    source: DictEntitlements,
) -> None:
    leeway = make_leeway(entitlements=source, intercept=False)
    registry = count_decisions(leeway)
    flow = connect_flow("www.facebook.com")
    flow.metadata[METADATA_KEY] = FlowNotes(Who("pat", "proxyauth", "10.0.0.5"))
    _connect(Gate(leeway, now=lambda: NOW), flow)
    assert flow.response is not None
    assert (
        flow.response.headers[DECISION_HEADER] == "warn; reason=store_unavailable; category=social"
    )
    assert counted(registry, "warn", "store_unavailable", "social") == 1
