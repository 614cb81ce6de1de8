"""Class 1 of issue 9: bytes that are neither TLS nor HTTP, through a tunnel to a named site.

On the stricter policy (tests/e2e/raw_site.py: `alice` may neither read nor post to rich
media), after `CONNECT` to a categorised name, each row's bytes are sent raw or inside TLS
without ALPN (where mitmproxy looks at the bytes again). The proxy must close the tunnel
without a byte, count it and log it with a reference; the raw site behind it, which
records every byte, must get nothing (the marker shows the proxy is done). Add a technique
as one more row.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.bypass.technique import CLOSED, Technique, attempt, check
from tests.e2e.conftest import Proxies
from tests.e2e.proxy_process import LeewayProcess
from tests.e2e.raw_site import (
    BLOCKED,
    EMPTY_FIRST_LINE,
    RANDOM,
    READABLE,
    RawOrigin,
    only_the_marker_arrives,
    refused,
    start_raw_origin,
    write_stricter_policy,
)

CATEGORY = {BLOCKED: "rich-media", READABLE: "social"}


@pytest.fixture(scope="module")
def strict(
    module_proxies: Proxies, htpasswd: Path, tmp_path_factory: pytest.TempPathFactory
) -> LeewayProcess:
    policy = write_stricter_policy(tmp_path_factory.mktemp("policy") / "policy.toml")
    return module_proxies.start("--proxyauth", f"@{htpasswd}", "--policy", str(policy))


@pytest.fixture
def site() -> Iterator[RawOrigin]:
    origin = start_raw_origin()
    yield origin
    origin.stop()


def raw(
    payload: bytes, host: str = BLOCKED, user: str = "alice", tls: str | None = None
) -> Technique:
    """`payload` after a CONNECT to `host` at the site's port: the tunnel closed, no answer."""
    return Technique(lambda port: payload, CLOSED, connect=f"{host}:{{port}}", user=user, tls=tls)


TECHNIQUES = [
    # Moved from test_tunnel.py's table.
    pytest.param(raw(RANDOM), id="random bytes"),
    pytest.param(raw(b"SSH-2.0-OpenSSH_9.6\r\n"), id="ssh greeting"),
    pytest.param(raw(EMPTY_FIRST_LINE), id="empty first line"),
    pytest.param(raw(RANDOM, tls=""), id="tls, raw inside"),
    pytest.param(raw(EMPTY_FIRST_LINE, tls=""), id="tls, empty first line"),
    # The policy decides requests; raw bytes carry none, so nobody may send them.
    pytest.param(raw(RANDOM, READABLE, "trina"), id="a site trina may read"),
    # Added: the name spelled otherwise, and other protocols' greetings.
    pytest.param(raw(RANDOM, "WWW.YouTube.COM"), id="name in mixed case"),
    pytest.param(raw(RANDOM, "www.youtube.com."), id="name with a trailing dot"),
    pytest.param(raw(b"\x05\x01\x00"), id="socks5 greeting"),
    pytest.param(raw(b"\x00\x00\x00\x10\x00\x03\x00\x00user\x00x\x00\x00"), id="postgres"),
    pytest.param(raw(b"SSH-2.0-OpenSSH_9.6\r\n", tls=""), id="tls, ssh inside"),
]


@pytest.mark.parametrize("row", TECHNIQUES)
def test_technique(strict: LeewayProcess, site: RawOrigin, row: Technique) -> None:
    assert row.connect is not None
    host = row.connect.rsplit(":", 1)[0]  # logged as the client wrote it
    category = CATEGORY[host.lower().rstrip(".")]
    before = refused(strict, category, "raw")
    closed = f"closed a tunnel to {host} (category {category})"
    logged = strict.log().count(closed)
    outcome = attempt(strict, site.port, list, row)  # the marker tells what arrived
    check(outcome, row)
    assert outcome.data == b""
    only_the_marker_arrives(strict, site)
    assert refused(strict, category, "raw") == before + 1
    log = strict.log()
    assert log.count(closed) == logged + 1
    assert re.search(rf"ref [0-9A-F]{{8}}: closed a tunnel to {re.escape(host)} ", log)


# The access page's name, should the office's resolver know it (`.internal` names often
# resolve inside an office): the proxy answers a CONNECT to it itself, at any port, so it
# must never open a connection there for what follows, whatever the bytes.
PORTAL_NAME = "example.org"  # in the test proxies' hosts file, at the raw site's address


@pytest.fixture(scope="module")
def portal_resolves(module_proxies: Proxies, htpasswd: Path) -> LeewayProcess:
    return module_proxies.start("--proxyauth", f"@{htpasswd}", "--portal-host", PORTAL_NAME)


PORTAL_TECHNIQUES = [
    pytest.param(raw(RANDOM, PORTAL_NAME), id="random bytes"),
    pytest.param(raw(b"SSH-2.0-OpenSSH_9.6\r\n", PORTAL_NAME), id="ssh greeting"),
    pytest.param(raw(RANDOM, PORTAL_NAME, tls=""), id="tls, raw inside"),
    pytest.param(raw(b"SSH-2.0-OpenSSH_9.6\r\n", PORTAL_NAME, tls=""), id="tls, ssh inside"),
    pytest.param(raw(RANDOM, PORTAL_NAME.upper() + "."), id="name spelled otherwise"),
]


@pytest.mark.parametrize("row", PORTAL_TECHNIQUES)
def test_raw_bytes_to_the_portal_never_reach_a_server_of_that_name(
    portal_resolves: LeewayProcess, site: RawOrigin, row: Technique
) -> None:
    outcome = attempt(portal_resolves, site.port, list, row)
    check(outcome, row)
    assert outcome.data == b""
    only_the_marker_arrives(portal_resolves, site)
    assert "(own_name, before connecting)" in portal_resolves.log()
