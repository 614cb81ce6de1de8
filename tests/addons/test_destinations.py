"""Tests for addons.destinations: refusing the proxy's own host at CONNECT, on each request,
before connecting and once connected (DNS rebinding)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Awaitable
from typing import Any

import pytest
from mitmproxy import http, options
from mitmproxy.addons.onboarding import Onboarding
from mitmproxy.proxy.server_hooks import ServerConnectionHookData
from mitmproxy.test import tflow
from mitmproxy.tools.dump import DumpMaster

from addons import destinations
from addons.destinations import Destinations
from policy.destinations import Address, DestinationRules, Refusal, parse_networks
from tests.addons.addon_context import addon_context
from tests.addons.fakes import connect_flow, make_leeway, request_flow

METRICS_PORT = 9464
UNSPECIFIED = "0.0.0.0"  # noqa: S104 (a destination, not a bind)


class Zone:
    """Names and their addresses, changed at will (a name that rebinds); counts lookups."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names
        self.lookups = 0

    async def __call__(self, host: str, port: int) -> tuple[Address, ...]:
        self.lookups += 1
        found = self.names.get(host)
        return () if found is None else (ipaddress.ip_address(found),)


class Setup:
    def __init__(self) -> None:
        self.zone = Zone(
            {"www.example.org": "93.184.215.14", "rebind.example": "127.0.0.1", "wiki": "10.0.0.7"}
        )
        self.refused: list[Refusal] = []
        self.aborted: list[ServerConnectionHookData] = []
        leeway = make_leeway()
        leeway.destinations = DestinationRules(
            own=parse_networks("127.0.0.0/8,192.0.2.2"), own_ports=frozenset({8080, METRICS_PORT})
        )
        self.addon = Destinations(leeway, self.refused.append, self.zone, self._abort)

    def _abort(self, data: ServerConnectionHookData) -> bool:
        self.aborted.append(data)
        return True


def run[T](hook: Awaitable[T] | None) -> T | None:
    """What a hook's awaitable gives; None from a hook that decided at once."""
    if hook is None:
        return None

    async def wait() -> T:
        return await hook

    return asyncio.run(wait())


def status(flow: http.HTTPFlow) -> int | None:
    return None if flow.response is None else flow.response.status_code


@pytest.mark.parametrize(
    ("target", "port", "expected"),
    [
        pytest.param("www.example.org", 443, None, id="public name"),
        pytest.param("wiki", 443, None, id="intranet name"),
        pytest.param("unknown.example", 443, None, id="no answer: left to mitmproxy"),
        pytest.param("www.example.org", 22, Refusal.PORT, id="ssh port"),
        pytest.param("www.example.org", 8443, Refusal.PORT, id="not a CONNECT port"),
        pytest.param("127.0.0.1", 443, Refusal.LOOPBACK, id="loopback"),
        pytest.param("2130706433", 443, Refusal.LOOPBACK, id="loopback, decimal"),
        pytest.param("localhost", 443, Refusal.LOOPBACK, id="localhost"),
        pytest.param("rebind.example", 443, Refusal.LOOPBACK, id="a name for loopback"),
        pytest.param("169.254.169.254", 443, Refusal.LINK_LOCAL, id="cloud metadata"),
        pytest.param("192.0.2.2", 443, Refusal.OWN_ADDRESS, id="own address"),
    ],
)
def test_connect(target: str, port: int, expected: Refusal | None) -> None:
    setup = Setup()
    flow = connect_flow(target, port=port)
    run(setup.addon.http_connect(flow))
    assert status(flow) == (None if expected is None else 403)
    assert setup.refused == ([] if expected is None else [expected])


@pytest.mark.parametrize(
    ("host", "port", "scheme", "expected"),
    [
        pytest.param("www.example.org", 80, "http", None, id="plain HTTP"),
        pytest.param("www.example.org", 8080, "http", None, id="plain HTTP, 8080 elsewhere"),
        pytest.param("www.example.org", 25, "http", Refusal.PORT, id="plain HTTP to SMTP"),
        pytest.param("www.example.org", 8443, "https", None, id="in a tunnel: CONNECT's port"),
        pytest.param(UNSPECIFIED, METRICS_PORT, "http", Refusal.OWN_PORT, id="metrics"),
        pytest.param("127.0.0.1", METRICS_PORT, "http", Refusal.OWN_PORT, id="metrics, loopback"),
        pytest.param("localhost", METRICS_PORT, "http", Refusal.OWN_PORT, id="metrics by name"),
        pytest.param("www.example.org", METRICS_PORT, "http", None, id="same port elsewhere"),
        pytest.param("[::ffff:127.0.0.1]", METRICS_PORT, "http", Refusal.OWN_PORT, id="mapped"),
        pytest.param("0x7f.1", 5432, "http", Refusal.LOOPBACK, id="database on loopback"),
        pytest.param("rebind.example", 443, "https", Refusal.LOOPBACK, id="name in a tunnel"),
    ],
)
def test_requests(host: str, port: int, scheme: str, expected: Refusal | None) -> None:
    setup = Setup()
    flow = request_flow(host, sni=host if scheme == "https" else None)
    flow.request.port = port
    run(setup.addon.requestheaders(flow))
    assert status(flow) == (None if expected is None else 403)
    assert setup.refused == ([] if expected is None else [expected])


def test_a_refusal_says_why_with_a_reference_that_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    setup = Setup()
    flow = request_flow("127.0.0.1")
    with caplog.at_level(logging.WARNING, "leeway.destinations"):
        run(setup.addon.requestheaders(flow))
    assert flow.response is not None
    text = flow.response.text or ""
    assert text.startswith("The proxy does not connect to a loopback address. Reference ")
    reference = text.rsplit(" ", 1)[1].rstrip(".\n")
    assert f"ref {reference}" in caplog.text and "127.0.0.1:80" in caplog.text


def test_an_answered_request_is_left_alone() -> None:
    setup = Setup()
    flow = request_flow("127.0.0.1")
    flow.response = http.Response.make(407)
    run(setup.addon.requestheaders(flow))
    assert (status(flow), setup.refused) == (407, [])


def test_names_are_resolved_once_in_a_while_but_again_before_connecting() -> None:
    setup = Setup()
    for _ in range(3):
        run(setup.addon.requestheaders(request_flow("www.example.org")))
    assert setup.zone.lookups == 1
    # The name now points at loopback: the request check still has the old answer, the
    # connection check asks again.
    setup.zone.names["www.example.org"] = "127.0.0.1"
    flow = request_flow("www.example.org")
    run(setup.addon.requestheaders(flow))
    assert flow.response is None
    data = server_data(("www.example.org", 80))
    run(setup.addon.server_connect(data))
    assert data.server.error == "Leeway does not connect to a loopback address"
    assert setup.refused == [Refusal.LOOPBACK]


def server_data(
    address: tuple[str, int], peer: tuple[str, int] | None = None
) -> ServerConnectionHookData:
    server = tflow.tserver_conn()
    server.address = address
    server.peername = peer
    server.error = None
    return ServerConnectionHookData(server=server, client=tflow.tclient_conn())


@pytest.mark.parametrize(
    ("peer", "expected"),
    [
        pytest.param(("93.184.215.14", 80), None, id="the address it had"),
        pytest.param(("127.0.0.1", 80), Refusal.LOOPBACK, id="rebound to loopback"),
        pytest.param(("::ffff:127.0.0.1", 80), Refusal.LOOPBACK, id="rebound, mapped"),
        pytest.param(("fe80::1%2", 80, 0, 2), Refusal.LINK_LOCAL, id="scoped link-local"),
        pytest.param(("127.0.0.1", METRICS_PORT), Refusal.OWN_PORT, id="own port"),
    ],
)
def test_the_connected_peer_is_checked_and_aborted(
    peer: tuple[str, int], expected: Refusal | None
) -> None:
    setup = Setup()
    data = server_data(("www.example.org", 80), peer)
    setup.addon.server_connected(data)
    assert setup.refused == ([] if expected is None else [expected])
    assert setup.aborted == ([] if expected is None else [data])


@pytest.mark.parametrize("host", ["leeway.internal", "LEEWAY.internal."])
def test_the_proxy_never_connects_to_the_access_pages_name(host: str) -> None:
    """The portal answers a CONNECT to its name itself: bytes that are neither TLS nor HTTP
    after it must not go on to a server that the office's resolver knows by that name."""
    setup = Setup()
    data = server_data((host, 22))
    run(setup.addon.server_connect(data))
    assert data.server.error == (
        "Leeway does not connect to the access page's name: the proxy answers it itself"
    )
    assert (setup.zone.lookups, setup.refused) == (0, [Refusal.OWN_NAME])


def test_a_connection_already_killed_is_not_resolved() -> None:
    setup = Setup()
    data = server_data(("rebind.example", 80))
    data.server.error = "killed by another addon"
    run(setup.addon.server_connect(data))
    assert (setup.zone.lookups, setup.refused) == (0, [])


def test_the_real_resolver_reads_the_hosts_file() -> None:
    found = run(destinations.resolve("localhost", 80))
    assert found and all(address.is_loopback for address in found)
    assert run(destinations.resolve("no-such-name.invalid", 80)) == ()


class Listener:
    """A listener on 127.0.0.1 (a database, say) that records what each connection sent."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._record, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _record(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.received.append(await reader.read(65536))
        writer.close()


class PeerCheckOnly:
    """Only the last guard, as if the earlier checks had been passed by a rebinding race."""

    def __init__(self, addon: Destinations) -> None:
        self.server_connected = addon.server_connected


def test_a_real_proxy_aborts_a_connection_to_a_refused_peer_before_sending() -> None:
    async def scenario() -> tuple[list[bytes], bytes]:
        listener = Listener()
        target = await listener.start()
        opts = options.Options(listen_host="127.0.0.1", listen_port=0)
        master = DumpMaster(opts, with_termlog=False, with_dumper=False)
        setup = Setup()
        master.addons.add(PeerCheckOnly(Destinations(setup.addon.leeway, setup.refused.append)))
        running = asyncio.create_task(master.run())
        try:
            port = await listening(master)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET http://127.0.0.1:{target}/ HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            answer = await asyncio.wait_for(reader.read(65536), 10)
            writer.close()
            await asyncio.sleep(0)  # let the listener's handler run, had bytes come
        finally:
            # mitmproxy leaves its listening socket to the loop's end: close it first.
            await proxyserver(master).servers.update([])
            master.shutdown()
            await running
            assert listener.server is not None
            listener.server.close()
            await listener.server.wait_closed()
        assert setup.refused == [Refusal.LOOPBACK]
        return listener.received, answer

    received, answer = asyncio.run(scenario())
    assert received in ([], [b""])  # connected, perhaps, but not a byte sent
    assert answer.startswith(b"HTTP/1.1 502")


def proxyserver(master: DumpMaster) -> Any:
    return master.addons.get("proxyserver")


async def listening(master: DumpMaster) -> int:
    for _ in range(200):
        addresses = proxyserver(master).listen_addrs()
        if addresses:
            return int(addresses[0][1])
        await asyncio.sleep(0.05)
    raise AssertionError("the proxy did not listen within 10 s")


def test_the_onboarding_app_is_answered_whatever_its_name_resolves_to() -> None:
    setup = Setup()
    setup.zone.names["mitm.it"] = "0.0.0.0"  # noqa: S104 (a DNS filter's sinkhole answer)
    addon = setup.addon
    with addon_context(addon, Onboarding()) as tctx:
        tctx.configure(addon, onboarding=True)
        onboarding = request_flow("mitm.it")
        run(addon.requestheaders(onboarding))
        tctx.configure(addon, onboarding=False)
        elsewhere = request_flow("mitm.it")
        run(addon.requestheaders(elsewhere))
    assert (status(onboarding), status(elsewhere)) == (None, 403)


def test_a_request_to_a_name_allowed_a_moment_ago_is_decided_without_a_coroutine() -> None:
    setup = Setup()
    run(setup.addon.requestheaders(request_flow("www.example.org")))
    # The verdict cache answers at once: no coroutine for the chain to await.
    assert setup.addon.requestheaders(request_flow("www.example.org")) is None
    refused = request_flow("127.0.0.1")
    run(setup.addon.requestheaders(refused))
    again = request_flow("127.0.0.1")
    assert setup.addon.requestheaders(again) is None
    assert (status(again), setup.zone.lookups) == (403, 1)


def test_the_access_page_is_answered_whatever_its_name_resolves_to() -> None:
    setup = Setup()
    setup.zone.names["leeway.internal"] = "127.0.0.1"  # a resolver that answers for it
    for host in ("leeway.internal", "LEEWAY.internal."):
        portal = request_flow(host, method="POST", path="/requests")
        assert run(setup.addon.requestheaders(portal)) is None
        assert status(portal) is None
    assert setup.zone.lookups == 0
    other = request_flow("leeway.example")  # not the portal: refused when it resolves so
    setup.zone.names["leeway.example"] = "127.0.0.1"
    run(setup.addon.requestheaders(other))
    assert status(other) == 403
