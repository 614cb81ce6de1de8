"""`leeway addresses add CIDR USERNAME`: requests from a client network belong to one user.

A single address means that address alone (/32 or /128); the same network again moves it.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from proxy.commands import CommandError, Context, Subparsers, now, options, require_user
from proxy.store.notify import notify_addresses
from proxy.store.people import Network, assign_network

if TYPE_CHECKING:
    import argparse

EXAMPLES = "e.g. 10.1.2.0/24, 10.1.2.7 or 2001:db8::/64"


def register(groups: Subparsers) -> None:
    group = groups.add_parser("addresses", help="map client addresses to users")
    commands = group.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add = commands.add_parser(
        "add",
        parents=[options(store=True, policy=True)],
        help="requests from this address or network belong to this user",
    )
    add.add_argument("network", metavar="CIDR", help=f"an address or network, {EXAMPLES}")
    add.add_argument("username", metavar="USERNAME")
    add.set_defaults(handler=run_add)


def parse_network(text: str) -> Network:
    """The network written `text` (an address alone is its /32 or /128); CommandError if bad."""
    try:
        return ipaddress.ip_network(text.strip(), strict=True)
    except ValueError as e:
        if "has host bits set" in str(e):
            loose = ipaddress.ip_network(text.strip(), strict=False)
            raise CommandError(
                f"bad network {text!r}: host bits are set (did you mean {loose}?)"
            ) from None
        raise CommandError(
            f"bad network {text!r}: expected an address or CIDR network, {EXAMPLES}"
        ) from None


def run_add(args: argparse.Namespace, context: Context) -> int:
    network = parse_network(args.network)
    username: str = args.username
    with context.transaction() as session:
        user = require_user(session, username)
        previous = assign_network(session, network, user, now())
        notify_addresses(session)
    moved = f" (moved from {previous})" if previous else ""
    context.say(f"{network} -> {username}{moved}")
    return 0
