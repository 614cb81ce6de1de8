"""The client address map in memory: which user a request belongs to by its source address.

Loaded from the store in a worker thread, then looked up on the event loop without I/O.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import select

from proxy.store.db import session_factory, store_errors
from proxy.store.models import ClientAddress, User

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy.engine import Engine

log = logging.getLogger("leeway.addresses")

_REMEMBER_ADDRESSES = 16_384
type Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# (mask, {integer network address: username}) per prefix length, longest prefix first
type Levels = tuple[tuple[int, dict[int, str]], ...]


@dataclass(frozen=True, slots=True)
class _Table:
    """One immutable snapshot: `load` builds a new one and swaps it in with one assignment."""

    v4: Levels = ()
    v6: Levels = ()
    size: int = 0
    # Answers by address text: an office has a few hundred clients, each sending many
    # requests, and parsing an address costs more than the look-up. Dropped with the table.
    seen: dict[str, str | None] = field(default_factory=dict, compare=False)

    def lookup(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
        value = int(address)
        for mask, networks in self.v4 if address.version == 4 else self.v6:
            username = networks.get(value & mask)
            if username is not None:
                return username
        return None


class AddressBook:
    """Networks to usernames; the longest prefix that contains the address wins."""

    def __init__(self) -> None:
        self._table = _Table()

    def __len__(self) -> int:
        return self._table.size

    def load(self, engine: Engine) -> None:
        """Read every client network from the store and replace the map (blocking: use a thread).

        `StoreUnavailable` if the database fails; the map in use stays as it was.
        """
        query = (
            select(ClientAddress.network, User.username)
            .join(User, User.id == ClientAddress.user_id)
            .order_by(ClientAddress.id)
        )
        with store_errors(engine.url), session_factory(engine)() as session:
            rows = [(network, username) for network, username in session.execute(query)]
        self._table = _build(rows)

    def lookup(self, address: str) -> str | None:
        """The user of client `address` (an IPv4 or IPv6 address), or None if unmapped."""
        table = self._table
        try:
            return table.seen[address]
        except KeyError:
            pass
        username = _lookup(table, address)
        if len(table.seen) >= _REMEMBER_ADDRESSES:
            table.seen.clear()
        table.seen[address] = username
        return username


def _lookup(table: _Table, address: str) -> str | None:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # a dual-stack socket reports IPv4 clients this way
    return table.lookup(ip)


def _build(rows: Iterable[tuple[str, str]]) -> _Table:
    """The lookup table for (network, username) rows; a row whose network is bad is skipped."""
    by_version: dict[int, dict[int, dict[int, str]]] = {4: {}, 6: {}}
    size = 0
    for text, username in rows:
        network = _network(text)
        if network is None:
            log.warning("client address %r of %r is not a network: ignored", text, username)
            continue
        level = by_version[network.version].setdefault(network.prefixlen, {})
        size += int(network.network_address) not in level
        level[int(network.network_address)] = username
    return _Table(v4=_levels(by_version[4], 32), v6=_levels(by_version[6], 128), size=size)


def _network(text: str) -> Network | None:
    """`text` as a network; an IPv4-mapped IPv6 network becomes the IPv4 network it maps."""
    try:
        network = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:
            return ipaddress.IPv4Network((mapped, network.prefixlen - 96))
    return network


def _levels(by_prefix: dict[int, dict[int, str]], bits: int) -> Levels:
    all_ones = (1 << bits) - 1
    return tuple(
        (all_ones ^ (all_ones >> prefix), networks)
        for prefix, networks in sorted(by_prefix.items(), reverse=True)
    )
