"""`leeway run`: mitmproxy in-process with Leeway's addons, in the role it is given.

Everything that can be checked before listening is checked first (`proxy.runtime.startup`,
then mitmproxy's options), so a bad start is one clear line and exit code 1.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mitmproxy import exceptions, options
from mitmproxy.tools.dump import DumpMaster
from sqlalchemy.engine import Engine

from addons.acknowledge import Acknowledge
from addons.chain import Chain
from addons.context import Leeway
from addons.destinations import Destinations
from addons.enforce import Enforce
from addons.gate import Gate
from addons.identity import Identity
from addons.portal import Portal
from addons.stream import Stream
from addons.tunnel import Tunnel
from addons.usage import Usage
from policy import Policy
from proxy.runtime.access_requests import StoredAccessRequests
from proxy.runtime.acknowledgements import AcknowledgementWriter
from proxy.runtime.address_book import AddressBook
from proxy.runtime.background import AcknowledgementFlusher, AddressRefresher, PolicyReloader
from proxy.runtime.changes import ChangeListener
from proxy.runtime.entitlement_cache import EntitlementCache
from proxy.runtime.host_addresses import for_this_host
from proxy.runtime.ldap_login import LoginSpecError
from proxy.runtime.logins import sign_in
from proxy.runtime.observability import Observability
from proxy.runtime.startup import (
    Alone,
    RunConfig,
    StartupError,
    load_run_templates,
    preflight,
)
from proxy.store.db import StoreUnavailable
from proxy.store.entitlements import SqlEntitlements

if TYPE_CHECKING:
    from proxy.runtime.startup import Role

logger = logging.getLogger("leeway.serve")

# Production defaults: never contact a site before deciding. Large bodies (video) are
# streamed by Leeway's own Stream addon: mitmproxy's `stream_large_bodies` would crash the
# connection of a refused large upload. There is no per-flow output because the dumper
# addon is not loaded, and mitmdump keeps no flows.
PRODUCTION_OPTIONS = {
    "connection_strategy": "lazy",
}


def serve(config: RunConfig, engine: Engine, policy: Policy) -> int:
    """Run the proxy until SIGINT or SIGTERM; the engine is on a migrated database."""
    key = preflight(config, engine)
    return asyncio.run(serve_loop(config, engine, policy, key))


async def serve_loop(
    config: RunConfig,
    engine: Engine,
    policy: Policy,
    key: bytes,
    role: Role | None = None,
    *,
    first: Sequence[object] = (),
) -> int:
    """The proxy in this process's event loop, in its `role` (default: alone).
    `first`: addons that run before Leeway's own, in its chain (a test's part that fails)."""
    templates = load_run_templates(config.templates)
    opts = options.Options(
        listen_host=config.listen_host,
        listen_port=config.listen_port,
        confdir=str(config.confdir),
    )
    master = DumpMaster(opts, with_termlog=True, with_dumper=False)
    role = role or Alone(config, engine, policy)
    cache = EntitlementCache(
        SqlEntitlements(engine), ttl=config.cache_ttl, max_stale=config.cache_max_stale
    )
    book = AddressBook()
    await asyncio.to_thread(_load_addresses, book, engine)
    writer = AcknowledgementWriter(engine, cache)
    watch = Observability(config.observability, engine, policy)
    watch.watch_cache(cache)
    leeway = Leeway(
        policy=policy,
        entitlements=cache,
        acknowledgements=writer,
        addresses=book,
        token_key=key,
        intercept=config.intercept,
        trusted_header=config.trusted_header,
        trusted_peers=config.trusted_peers,
        warn_without_intercept=config.warn_without_intercept,
        observer=watch.recorder,
        templates=templates,
        siblings=role.siblings,
        portal_host=config.portal_host,
        access_requests=StoredAccessRequests(engine),
        destinations=await asyncio.to_thread(
            for_this_host,
            config.destinations,
            config.listen_port,
            config.observability.metrics_port,
        ),
    )
    chain = Chain(
        *first,
        *_sign_in(config, engine, watch, book),
        Identity(leeway),
        Portal(leeway),
        Destinations(leeway, watch.metrics.destination_refused),
        Gate(leeway),
        Acknowledge(leeway),
        Enforce(leeway),
        Tunnel(leeway),
        Stream(),
        Usage(watch.recorder),
        PolicyReloader(leeway, config.policy_path, on_change=watch.policy_changed),
        AddressRefresher(book, engine),
        ChangeListener(engine, cache, book),
        AcknowledgementFlusher(writer),
        *role.last_parts(leeway, watch, master),
        on_error=watch.metrics.addon_failed,
    )
    watch.metrics.addon_hooks(chain.hooks)
    master.addons.add(chain)
    _apply_options(master, config)
    await _start_watching(watch, serve_metrics=role.serves_metrics)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, master.shutdown)
    loop.set_exception_handler(_quiet_cancelled_connections)
    try:
        await master.run()
    finally:
        await watch.stop()
        engine.dispose()
    return 0


async def _start_watching(watch: Observability, *, serve_metrics: bool) -> None:
    """The metrics endpoint and the audit trail, or one line saying why not."""
    try:
        if serve_metrics:
            watch.serve()
        await watch.start()
    except OSError as e:
        await watch.stop()
        raise StartupError(str(e)) from None


def _quiet_cancelled_connections(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Some Python 3.12 releases (3.12.1 here) report every client connection still open
    at shutdown as an error with a traceback: their stream callback asks the cancelled
    connection task for its exception. mitmproxy handles errors while it runs; this
    handles the stop, and passes anything but a cancellation on."""
    if isinstance(context.get("exception"), asyncio.CancelledError):
        return
    loop.default_exception_handler(context)


def _load_addresses(book: AddressBook, engine: Engine) -> None:
    try:
        book.load(engine)
    except StoreUnavailable as e:
        logger.warning("client address map not loaded: %s", e)


def _sign_in(
    config: RunConfig, engine: Engine, watch: Observability, book: AddressBook
) -> list[object]:
    """Leeway's own proxy authentication (never on the event loop), if `--proxyauth` asks;
    clients in the address map need not sign in."""
    if not config.proxyauth:
        return []

    def mapped(client: str) -> bool:
        return book.lookup(client) is not None

    try:
        addon = sign_in(
            config.proxyauth,
            config.auth_timeout,
            engine,
            watch.registry,
            mapped,
            config.auth_ca_file,
        )
    except LoginSpecError as e:
        raise StartupError(f"--proxyauth refused: {e}") from None
    return [addon]


def _apply_options(master: DumpMaster, config: RunConfig) -> None:
    """Production defaults, then the operator's own, refusing unknown or bad options.
    mitmproxy's `proxyauth` checks on the event loop: Leeway's `--proxyauth` replaces it."""
    if any(option.split("=", 1)[0].strip() == "proxyauth" for option in config.mitm_options):
        raise StartupError(
            "mitmproxy option refused: proxyauth: use --proxyauth SPEC (mitmproxy's own checks"
            " block the event loop)"
        )
    try:
        master.options.update(**PRODUCTION_OPTIONS)
        master.options.set(*config.mitm_options)
    except (exceptions.OptionsError, KeyError) as e:
        raise StartupError(f"mitmproxy option refused: {e}") from None
    if config.proxyauth and any(mode.startswith("socks5") for mode in master.options.mode):
        # mitmproxy asks SOCKS5 clients for a login only when its own proxyauth is set.
        raise StartupError("--proxyauth: sign-in over SOCKS5 is not supported (HTTP proxy only)")
    if master.options.deferred:
        names = ", ".join(sorted(master.options.deferred))
        raise StartupError(f"unknown mitmproxy option(s): {names}")
