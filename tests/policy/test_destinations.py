"""Tests for policy.destinations: where a proxy never forwards to, in every spelling."""

from __future__ import annotations

import ipaddress
import re

import pytest

from policy.destinations import (
    DEFAULT_HTTP_PORTS,
    DestinationError,
    DestinationRules,
    Ports,
    Refusal,
    literal_address,
    parse_networks,
)

OWN = parse_networks("127.0.0.0/8,192.0.2.2/32,fd00::2/128,fe80::fc00:ff:fe00:1/128")
PROXY_PORT, METRICS_PORT = 8080, 9464
UNSPECIFIED = "0.0.0.0"  # noqa: S104 (a destination, not a bind)
RULES = DestinationRules(own=OWN, own_ports=frozenset({PROXY_PORT, METRICS_PORT}))
ALLOWING = DestinationRules(
    own=OWN,
    own_ports=frozenset({PROXY_PORT, METRICS_PORT}),
    allowed=parse_networks("127.0.0.50/32,192.0.2.2,169.254.169.254/32"),
)


def refusal(rules: DestinationRules, host: str, port: int) -> Refusal | None:
    address = literal_address(host)
    assert address is not None, f"{host!r} should be read as an address"
    return rules.address(address, port)


SPELLINGS = [
    pytest.param("127.0.0.1", 80, Refusal.LOOPBACK, id="loopback"),
    pytest.param("127.0.0.1.", 80, Refusal.LOOPBACK, id="loopback, trailing dot"),
    pytest.param("127.255.255.254", 80, Refusal.LOOPBACK, id="anywhere in 127/8"),
    pytest.param("2130706433", 80, Refusal.LOOPBACK, id="decimal"),
    pytest.param("0177.0.0.1", 80, Refusal.LOOPBACK, id="octal"),
    pytest.param("0x7f.0.0.1", 80, Refusal.LOOPBACK, id="hexadecimal"),
    pytest.param("0x7f.1", 80, Refusal.LOOPBACK, id="hexadecimal, short"),
    pytest.param("0x7F000001", 80, Refusal.LOOPBACK, id="hexadecimal, one number"),
    pytest.param("127.1", 80, Refusal.LOOPBACK, id="short"),
    pytest.param("::1", 80, Refusal.LOOPBACK, id="IPv6 loopback"),
    pytest.param("[::1]", 80, Refusal.LOOPBACK, id="IPv6 loopback, bracketed"),
    pytest.param("[0:0:0:0:0:0:0:1]", 80, Refusal.LOOPBACK, id="IPv6 loopback, long"),
    pytest.param("[::ffff:127.0.0.1]", 80, Refusal.LOOPBACK, id="IPv4-mapped"),
    pytest.param("[::ffff:7f00:1]", 80, Refusal.LOOPBACK, id="IPv4-mapped, hex"),
    pytest.param("[::ffff:0:7f00:1]", 80, Refusal.LOOPBACK, id="IPv4-translated"),
    pytest.param("[::127.0.0.1]", 80, Refusal.LOOPBACK, id="IPv4-compatible"),
    pytest.param("[64:ff9b::7f00:1]", 80, Refusal.LOOPBACK, id="NAT64 well-known prefix"),
    pytest.param("localhost", 80, Refusal.LOOPBACK, id="localhost"),
    pytest.param("LOCALHOST.", 80, Refusal.LOOPBACK, id="localhost, trailing dot"),
    pytest.param("db.localhost", 80, Refusal.LOOPBACK, id="a localhost subdomain"),
    pytest.param(UNSPECIFIED, 80, Refusal.UNSPECIFIED, id="unspecified"),
    pytest.param("0", 80, Refusal.UNSPECIFIED, id="unspecified, one number"),
    pytest.param("0.1.2.3", 80, Refusal.UNSPECIFIED, id="this network (0/8)"),
    pytest.param("[::]", 80, Refusal.UNSPECIFIED, id="IPv6 unspecified"),
    pytest.param("[::ffff:0.0.0.0]", 80, Refusal.UNSPECIFIED, id="IPv4-mapped unspecified"),
    pytest.param("169.254.169.254", 80, Refusal.LINK_LOCAL, id="cloud metadata"),
    pytest.param("2852039166", 80, Refusal.LINK_LOCAL, id="cloud metadata, decimal"),
    pytest.param("0xa9.0xfe.0xa9.0xfe", 80, Refusal.LINK_LOCAL, id="cloud metadata, hex"),
    pytest.param("[::ffff:169.254.169.254]", 80, Refusal.LINK_LOCAL, id="metadata, mapped"),
    pytest.param("[fe80::1]", 80, Refusal.LINK_LOCAL, id="IPv6 link-local"),
    pytest.param("192.0.2.2", 80, Refusal.OWN_ADDRESS, id="own interface address"),
    pytest.param("[::ffff:192.0.2.2]", 80, Refusal.OWN_ADDRESS, id="own address, mapped"),
    pytest.param("3221225986", 80, Refusal.OWN_ADDRESS, id="own address, decimal"),
    pytest.param("[fd00::2]", 80, Refusal.OWN_ADDRESS, id="own IPv6 address"),
    pytest.param(UNSPECIFIED, METRICS_PORT, Refusal.OWN_PORT, id="metrics via unspecified"),
    pytest.param("2130706433", METRICS_PORT, Refusal.OWN_PORT, id="metrics, decimal"),
    pytest.param("[::ffff:127.0.0.1]", METRICS_PORT, Refusal.OWN_PORT, id="metrics, mapped"),
    pytest.param("192.0.2.2", PROXY_PORT, Refusal.OWN_PORT, id="proxy port on own address"),
    pytest.param("[fe80::fc00:ff:fe00:1]", PROXY_PORT, Refusal.OWN_PORT, id="own link-local"),
    pytest.param("10.1.2.3", 80, None, id="private 10/8: intranets"),
    pytest.param("172.16.0.1", 443, None, id="private 172.16/12"),
    pytest.param("192.168.1.1", 8080, None, id="private 192.168/16, even at the proxy port"),
    pytest.param("[fd12::1]", 443, None, id="unique local IPv6"),
    pytest.param("192.0.2.3", PROXY_PORT, None, id="a neighbour at the proxy's port number"),
    pytest.param("93.184.215.14", 443, None, id="public"),
    pytest.param("[2001:db8::1]", 443, None, id="public IPv6"),
    pytest.param("[::ffff:93.184.215.14]", 443, None, id="public, mapped"),
]


@pytest.mark.parametrize(("host", "port", "expected"), SPELLINGS)
def test_destinations_by_default(host: str, port: int, expected: Refusal | None) -> None:
    assert refusal(RULES, host, port) is expected


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        pytest.param("127.0.0.50", 8000, None, id="allowed loopback address"),
        pytest.param("[::ffff:127.0.0.50]", 8000, None, id="allowed, mapped"),
        pytest.param("0x7f.0.0.50", 8000, None, id="allowed, hex"),
        pytest.param("127.0.0.1", 8000, Refusal.LOOPBACK, id="the rest of loopback stays refused"),
        pytest.param("192.0.2.2", 8000, None, id="allowed own address"),
        pytest.param("169.254.169.254", 80, None, id="allowed metadata service"),
        pytest.param("169.254.0.1", 80, Refusal.LINK_LOCAL, id="other link-local refused"),
        pytest.param("127.0.0.50", METRICS_PORT, Refusal.OWN_PORT, id="own port inside allowed"),
        pytest.param("192.0.2.2", PROXY_PORT, Refusal.OWN_PORT, id="own port, allowed address"),
    ],
)
def test_allowed_networks(host: str, port: int, expected: Refusal | None) -> None:
    assert refusal(ALLOWING, host, port) is expected


@pytest.mark.parametrize(
    "host", ["example.org", "localhost.example.org", "127.0.0.1.nip.io", "exa mple", "[fe80::1%lo]"]
)
def test_names_are_not_addresses(host: str) -> None:
    assert literal_address(host) is None


def test_a_scoped_ipv6_address_is_judged_without_its_scope() -> None:
    assert RULES.address(ipaddress.IPv6Address("fe80::1%lo"), 80) is Refusal.LINK_LOCAL


@pytest.mark.parametrize(
    ("port", "connect", "plain"),
    [
        pytest.param(443, None, None, id="443"),
        pytest.param(80, Refusal.PORT, None, id="80: plain only"),
        pytest.param(8443, Refusal.PORT, None, id="8443: plain only"),
        pytest.param(22, Refusal.PORT, Refusal.PORT, id="ssh"),
        pytest.param(25, Refusal.PORT, Refusal.PORT, id="smtp"),
        pytest.param(1024, Refusal.PORT, Refusal.PORT, id="1024"),
        pytest.param(1025, Refusal.PORT, None, id="1025"),
    ],
)
def test_default_ports(port: int, connect: Refusal | None, plain: Refusal | None) -> None:
    rules = DestinationRules()
    assert (rules.connect(port), rules.plain_http(port)) == (connect, plain)


def test_ports_are_parsed_and_shown() -> None:
    ports = Ports.parse(" 443, 8443 ,1025-2000")
    assert (443 in ports, 8443 in ports, 1500 in ports, 2001 in ports) == (True, True, True, False)
    assert str(ports) == "443,8443,1025-2000"
    assert str(Ports.parse(DEFAULT_HTTP_PORTS)) == DEFAULT_HTTP_PORTS


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("443,https", "'https' is not a port or a range"),
        ("", "'' is not a port or a range"),
        ("0", "'0' is not within 1-65535"),
        ("2000-1025", "'2000-1025' is not within 1-65535, low to high"),
        ("65536", "'65536' is not within 1-65535"),
    ],
)
def test_bad_ports_are_refused(text: str, message: str) -> None:
    with pytest.raises(DestinationError, match=message):
        Ports.parse(text)


def test_networks_are_parsed() -> None:
    assert parse_networks(None) == parse_networks(" ") == ()
    assert [str(n) for n in parse_networks("10.0.0.0/8, 10.1.2.3,fd00::/8")] == [
        "10.0.0.0/8",
        "10.1.2.3/32",
        "fd00::/8",
    ]
    with pytest.raises(DestinationError, match=re.escape("'10.0.0.0/33' is not a CIDR")):
        parse_networks("10.0.0.0/33")
