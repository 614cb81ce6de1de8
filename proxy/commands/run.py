"""`leeway run`: the office proxy, with mitmproxy's options passed through."""

from __future__ import annotations

import argparse
import ipaddress
from typing import TYPE_CHECKING

from policy import Action
from policy.destinations import DestinationError, DestinationRules, Ports, parse_networks
from proxy.commands import CommandError, Context, Subparsers, options
from proxy.runtime.observability import ObservabilityConfig

if TYPE_CHECKING:
    from collections.abc import Callable

    from addons.context import Network


def register(groups: Subparsers) -> None:
    run = groups.add_parser(
        "run",
        parents=[options(store=True, policy=True)],
        help="run the proxy (mitmproxy with Leeway's addons)",
    )
    add = run.add_argument
    hidden = argparse.SUPPRESS
    add("--listen-host", default=hidden, metavar="H", help="address to listen on (127.0.0.1)")
    add("--listen-port", default=hidden, type=int, metavar="P", help="port (8080)")
    add(
        "--workers",
        default=hidden,
        type=int,
        metavar="N",
        help="proxy processes sharing the port, one core each (1)",
    )
    add("--confdir", default=hidden, metavar="DIR", help="mitmproxy's CA directory (~/.mitmproxy)")
    add("--metrics-host", default=hidden, metavar="H", help="address of /metrics (127.0.0.1)")
    add(
        "--metrics-port", default=hidden, type=int, metavar="P", help="/metrics port (9464, 0: off)"
    )
    add(
        "--proxyauth", default=hidden, metavar="SPEC", help="@htpasswd-file or ldap:... (mitmproxy)"
    )
    add(
        "--trusted-header",
        default=hidden,
        metavar="NAME",
        help="user header set by an upstream proxy",
    )
    add(
        "--trusted-peers", default=hidden, metavar="CIDR,...", help="peers believed for that header"
    )
    add(
        "--allow-destinations",
        default=hidden,
        metavar="CIDR,...",
        help="networks forwarded to although on this host or link-local (none)",
    )
    add("--connect-ports", default=hidden, metavar="PORTS", help="ports CONNECT may reach (443)")
    add(
        "--http-ports",
        default=hidden,
        metavar="PORTS",
        help="ports plain HTTP may reach (80,443,1025-65535)",
    )
    add(
        "--no-intercept",
        dest="intercept",
        action="store_false",
        default=hidden,
        help="never decrypt TLS: decide at CONNECT (clients without the CA)",
    )
    add(
        "--set",
        dest="mitm_options",
        action="append",
        default=[],
        metavar="OPTION=VALUE",
        help="any other mitmproxy option (repeatable); an unknown option is an error",
    )
    run.set_defaults(handler=run_proxy)


def run_proxy(args: argparse.Namespace, context: Context) -> int:
    from proxy.runtime.startup import RunConfig, StartupError, load_run_policy

    settings = context.settings
    if settings.trusted_header and not settings.trusted_peers:
        raise CommandError("--trusted-header needs --trusted-peers: whose header to believe")
    config = RunConfig(
        db_url=settings.db_url,
        policy_path=settings.policy,
        listen_host=settings.listen_host,
        listen_port=settings.listen_port,
        confdir=settings.confdir.expanduser(),
        proxyauth=settings.proxyauth,
        trusted_header=settings.trusted_header,
        trusted_peers=parse_peers(settings.trusted_peers),
        intercept=settings.intercept,
        warn_without_intercept=Action(settings.warn_without_intercept),
        mitm_options=tuple(args.mitm_options),
        destinations=DestinationRules(
            allowed=_parsed("--allow-destinations", parse_networks, settings.allow_destinations),
            connect_ports=_parsed("--connect-ports", Ports.parse, settings.connect_ports),
            http_ports=_parsed("--http-ports", Ports.parse, settings.http_ports),
        ),
        cache_ttl=settings.cache_ttl,
        max_stale=settings.cache_max_stale,
        observability=ObservabilityConfig(
            metrics_host=settings.metrics_host,
            metrics_port=settings.metrics_port,
            departments=settings.metrics_departments,
            min_group=settings.min_group,
            instance=settings.instance,
            journal=settings.audit_journal.expanduser(),
            retention=settings.audit_retention,
            pseudonymise_after=settings.audit_pseudonymise_after,
        ),
    )
    try:
        # A policy with a mistake is refused before mitmproxy, which takes seconds to
        # import, is loaded: only this command loads it, and only once the policy holds.
        load_run_policy(config.policy_path)
        from proxy.fleet.launch import supervise
        from proxy.runtime.serve import serve

        if settings.workers > 1:
            return supervise(config, context.engine(), settings.workers)
        return serve(config, context.engine())
    except StartupError as e:
        raise CommandError(f"leeway run: {e}") from None


def parse_peers(text: str | None) -> tuple[Network, ...]:
    if not text:
        return ()
    peers = []
    for part in text.split(","):
        try:
            peers.append(ipaddress.ip_network(part.strip(), strict=False))
        except ValueError:
            raise CommandError(f"--trusted-peers: {part.strip()!r} is not a CIDR") from None
    return tuple(peers)


def _parsed[T](flag: str, parse: Callable[[str], T], text: str | None) -> T:
    """A destination setting parsed, or refused naming its flag and variable."""
    try:
        return parse(text or "")
    except DestinationError as e:
        variable = "LEEWAY_" + flag.removeprefix("--").replace("-", "_").upper()
        raise CommandError(f"{flag} ({variable}): {e}") from None
