"""The proxy host's own addresses, read from the kernel (Linux /proc), for the destination rules.

Read once at start. Where /proc says nothing (another OS), the addresses the host name
resolves to stand in; loopback and the unspecified addresses are refused anyway.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from dataclasses import replace
from pathlib import Path

from policy.destinations import DestinationRules, Network

logger = logging.getLogger("leeway.destinations")

FIB_TRIE = Path("/proc/net/fib_trie")
IF_INET6 = Path("/proc/net/if_inet6")


def local_ipv4(fib_trie: str) -> set[Network]:
    """The LOCAL routes of /proc/net/fib_trie: each `|-- ADDRESS` line, then one line per
    route to it (`/32 host LOCAL`); LOCAL ones are the host's own addresses."""
    found: set[Network] = set()
    address: str | None = None
    for line in fib_trie.splitlines():
        text = line.strip()
        if text.startswith("|--"):
            address = text[3:].strip()
        elif text.startswith("/") and address is not None and text.endswith(" LOCAL"):
            length = text[1:].split(" ", 1)[0]
            try:
                found.add(ipaddress.IPv4Network(f"{address}/{length}", strict=False))
            except ValueError:
                logger.warning("fib_trie: %r/%s is not a network, skipped", address, length)
    return found


def local_ipv6(if_inet6: str) -> set[Network]:
    """Every address of /proc/net/if_inet6: 32 hex digits first on each line."""
    found: set[Network] = set()
    for line in if_inet6.splitlines():
        digits = line.split(" ", 1)[0]
        try:
            found.add(ipaddress.IPv6Network((int(digits, 16), 128)))
        except ValueError:
            logger.warning("if_inet6: %r is not an address, skipped", digits)
    return found


def for_this_host(rules: DestinationRules, *ports: int) -> DestinationRules:
    """The configured rules with this host's addresses and the proxy's listening ports (on
    whatever address they listen: 0 is no port) added."""
    return replace(rules, own=own_networks(), own_ports=frozenset(ports) - {0})


def own_networks(fib_trie: Path = FIB_TRIE, if_inet6: Path = IF_INET6) -> tuple[Network, ...]:
    """All the addresses of this host's interfaces, as networks."""
    found: set[Network] = set()
    for path, parse in ((fib_trie, local_ipv4), (if_inet6, local_ipv6)):
        try:
            found |= parse(path.read_text())
        except OSError as e:
            logger.info("own addresses: %s not read (%s)", path, e.strerror)
    if not found:
        found = _resolved_host_name()
    return tuple(sorted(found, key=lambda n: (n.version, n)))


def _resolved_host_name() -> set[Network]:
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, type=socket.SOCK_STREAM)
    except OSError:
        return set()
    return {ipaddress.ip_network(str(info[4][0]).partition("%")[0]) for info in infos}
