"""Tests for proxy.runtime.host_addresses: the proxy host's own addresses, as Linux lists them."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from policy.destinations import DestinationRules, Refusal
from proxy.runtime.host_addresses import for_this_host, local_ipv4, local_ipv6, own_networks

# /proc/net/fib_trie of a host with loopback and 192.0.2.2/24 on eth0 (its Main table).
FIB_TRIE = """Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 192.0.2.0/24 2 0 2
        +-- 192.0.2.0/30 2 0 2
           |-- 192.0.2.0
              /24 link UNICAST
           |-- 192.0.2.2
              /32 host LOCAL
        |-- 192.0.2.255
           /32 link BROADCAST
"""
IF_INET6 = """fe8000000000000000fc00fffe000001 04 40 20 80     eth0
00000000000000000000000000000001 01 80 10 80       lo
fd000000000000000000000000000002 04 40 00 82     eth0
"""


def test_local_routes_are_the_hosts_ipv4_addresses() -> None:
    assert sorted(map(str, local_ipv4(FIB_TRIE))) == ["127.0.0.0/8", "127.0.0.1/32", "192.0.2.2/32"]


def test_every_ipv6_interface_address_is_the_hosts() -> None:
    assert sorted(map(str, local_ipv6(IF_INET6))) == [
        "::1/128",
        "fd00::2/128",
        "fe80::fc:ff:fe00:1/128",
    ]


def test_the_rules_for_this_host(tmp_path: Path) -> None:
    (tmp_path / "fib_trie").write_text(FIB_TRIE)
    (tmp_path / "if_inet6").write_text(IF_INET6)
    networks = own_networks(tmp_path / "fib_trie", tmp_path / "if_inet6")
    assert [str(n) for n in networks][:3] == ["127.0.0.0/8", "127.0.0.1/32", "192.0.2.2/32"]
    rules = for_this_host(DestinationRules(), 8080, 0)
    assert rules.own_ports == frozenset({8080})
    assert rules.address(ipaddress.ip_address("127.0.0.1"), 8080) is Refusal.OWN_PORT
