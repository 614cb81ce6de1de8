"""Where the proxy never forwards: its own host, loopback, unspecified and link-local
addresses in every spelling, its own ports, and ports outside the configured sets.

Pure: the caller passes in the host's own addresses and ports, and resolves names itself.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import StrEnum

from policy.hosts import HostError, InvalidHost, is_ip_literal, normalise_domain, normalise_host

type Address = ipaddress.IPv4Address | ipaddress.IPv6Address
type Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Refusal(StrEnum):
    """Why a destination is refused: a closed set, used as a metric label."""

    LOOPBACK = "loopback"
    UNSPECIFIED = "unspecified"
    LINK_LOCAL = "link_local"
    OWN_ADDRESS = "own_address"
    OWN_PORT = "own_port"
    PORT = "port"
    OWN_NAME = "own_name"  # a name the proxy answers itself (the access page's)


class DestinationError(ValueError):
    """A setting that lists networks or ports is not such a list."""


_CLASSES: tuple[tuple[Network, Refusal], ...] = tuple(
    (ipaddress.ip_network(net), refusal)
    for net, refusal in (
        ("127.0.0.0/8", Refusal.LOOPBACK),
        ("::1/128", Refusal.LOOPBACK),
        # Linux connects 0.0.0.0 (and ::) to the host itself; the rest of 0/8 is "this network".
        ("0.0.0.0/8", Refusal.UNSPECIFIED),
        ("::/128", Refusal.UNSPECIFIED),
        # 169.254.169.254 is the cloud metadata service.
        ("169.254.0.0/16", Refusal.LINK_LOCAL),
        ("fe80::/10", Refusal.LINK_LOCAL),
    )
)
# IPv6 addresses that carry an IPv4 address in their last 32 bits and may reach it: mapped
# (::ffff:a.b.c.d, what a dual-stack socket connects to), translated (SIIT), compatible
# (deprecated ::a.b.c.d) and the NAT64 well-known prefix. Each is judged as that IPv4 too.
_EMBEDDING = tuple(
    ipaddress.IPv6Network(net)
    for net in ("::ffff:0:0/96", "::ffff:0:0:0/96", "::/96", "64:ff9b::/96")
)
# Localhost names never leave the host (RFC 6761): decided without asking a resolver.
_LOCALHOST = ipaddress.IPv4Address("127.0.0.1")
DEFAULT_CONNECT_PORTS = "443"
# Squid's Safe_ports without the FTP, gopher, WAIS and other ports mitmproxy does not speak:
# the low ports of mail, SSH, databases and the like stay closed to cross-protocol requests.
DEFAULT_HTTP_PORTS = "80,443,1025-65535"


@dataclass(frozen=True, slots=True)
class Ports:
    """A set of TCP ports written `80,443,1025-65535`."""

    ranges: tuple[tuple[int, int], ...]

    @classmethod
    def parse(cls, text: str) -> Ports:
        ranges = []
        for part in (p.strip() for p in text.split(",")):
            low, dash, high = part.partition("-")
            try:
                first, last = int(low), int(high if dash else low)
            except ValueError:
                raise DestinationError(
                    f"ports: {part!r} is not a port or a range such as 1025-65535"
                ) from None
            if not 1 <= first <= last <= 65535:
                raise DestinationError(f"ports: {part!r} is not within 1-65535, low to high")
            ranges.append((first, last))
        return cls(tuple(ranges))

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and any(low <= port <= high for low, high in self.ranges)

    def __str__(self) -> str:
        return ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in self.ranges)


def parse_networks(text: str | None) -> tuple[Network, ...]:
    """Networks written `10.0.0.0/8,fd00::/8` (an address alone is a network of one)."""
    if not text or not text.strip():
        return ()
    networks = []
    for part in (p.strip() for p in text.split(",")):
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise DestinationError(f"networks: {part!r} is not a CIDR such as 10.0.0.0/8") from None
    return tuple(networks)


def literal_address(host: str) -> Address | None:
    """The address a host names without a resolver, in any spelling a browser or resolver
    accepts (`2130706433`, `0x7f.1`, `[::ffff:127.0.0.1]`, `localhost.`), or None."""
    normal = normalise_host(host)
    if isinstance(normal, InvalidHost):
        return None
    if normal == "localhost" or normal.endswith(".localhost"):
        return _LOCALHOST
    return ipaddress.ip_address(normal) if is_ip_literal(normal) else None


def address_class(address: Address) -> Refusal | None:
    """Loopback, unspecified or link-local: what the address is on any host, or None."""
    for network, refusal in _CLASSES:
        if address in network:
            return refusal
    return None


def forms(address: Address) -> tuple[Address, ...]:
    """The address, and the IPv4 address it embeds if it is an IPv6 address that carries one."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id is not None:
            address = ipaddress.IPv6Address(address.compressed.partition("%")[0])
        if any(address in network for network in _EMBEDDING):
            return address, ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return (address,)


@dataclass(frozen=True, slots=True)
class DestinationRules:
    """Which destinations a proxy on this host forwards to. `own` are the host's own
    addresses, `own_ports` the proxy's listening ports; `allowed` networks are let through
    although they would be refused, except at the proxy's own ports."""

    own: tuple[Network, ...] = ()
    own_ports: frozenset[int] = frozenset()
    allowed: tuple[Network, ...] = ()
    connect_ports: Ports = field(default_factory=lambda: Ports.parse(DEFAULT_CONNECT_PORTS))
    http_ports: Ports = field(default_factory=lambda: Ports.parse(DEFAULT_HTTP_PORTS))

    def connect(self, port: int) -> Refusal | None:
        """A CONNECT tunnel to `port`."""
        return None if port in self.connect_ports else Refusal.PORT

    def plain_http(self, port: int) -> Refusal | None:
        """A plain HTTP request (no tunnel) to `port`."""
        return None if port in self.http_ports else Refusal.PORT

    def address(self, address: Address, port: int) -> Refusal | None:
        """A connection to `address`:`port`, judged in each form the address takes."""
        for form in forms(address):
            refusal = self._refusal(form, port)
            if refusal is not None:
                return refusal
        return None

    def _refusal(self, address: Address, port: int) -> Refusal | None:
        kind = address_class(address)
        own = any(address in network for network in self.own)
        this_host = own or kind in (Refusal.LOOPBACK, Refusal.UNSPECIFIED)
        if this_host and port in self.own_ports:
            return Refusal.OWN_PORT
        if kind is None and own:
            kind = Refusal.OWN_ADDRESS
        if kind is None or any(address in network for network in self.allowed):
            return None
        return kind


def host_name(raw: str) -> str:
    """A name the proxy answers for itself (the access page's), in its normal form; never
    an address (`Leeway.Internal.` -> `leeway.internal`). Raises DestinationError."""
    try:
        name = normalise_domain(raw.strip())
    except HostError as e:
        raise DestinationError(str(e)) from None
    if is_ip_literal(name):
        raise DestinationError(f"{raw!r} is an address: name a host, such as leeway.internal")
    return name
