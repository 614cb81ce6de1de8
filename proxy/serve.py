"""`leeway run`: start mitmproxy in-process with Leeway's addons.

Everything that can be checked before listening is checked first (policy, database,
port, mitmproxy options), so a bad start is one clear line and exit code 1.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mitmproxy import exceptions, options
from mitmproxy.tools.dump import DumpMaster
from sqlalchemy.engine import Engine

from addons.acknowledge import Acknowledge
from addons.chain import Chain
from addons.context import Leeway, Network
from addons.enforce import Enforce
from addons.gate import Gate
from addons.identity import Identity
from addons.protocols import NoSiblings
from addons.stream import Stream
from addons.tunnel import Tunnel
from addons.usage import Usage
from policy import Action, Policy, PolicyError, load_default_policy, load_policy
from proxy.acknowledgements import AcknowledgementWriter
from proxy.address_book import AddressBook
from proxy.background import AcknowledgementFlusher, AddressRefresher, PolicyReloader
from proxy.changes import ChangeListener
from proxy.entitlement_cache import EntitlementCache
from proxy.observability import Observability, ObservabilityConfig
from proxy.store.db import StoreUnavailable, mask_url
from proxy.store.entitlements import SqlEntitlements
from proxy.store.keys import signing_key

if TYPE_CHECKING:
    from proxy.worker import WorkerLink

logger = logging.getLogger("leeway")

# Production defaults: never contact a site before deciding. Large bodies (video) are
# streamed by Leeway's own Stream addon: mitmproxy's `stream_large_bodies` would crash the
# connection of a refused large upload. There is no per-flow output because the dumper
# addon is not loaded, and mitmdump keeps no flows.
PRODUCTION_OPTIONS = {
    "connection_strategy": "lazy",
}


class StartupError(Exception):
    """Leeway cannot start: one line saying why."""


@dataclass(frozen=True, slots=True)
class RunConfig:
    db_url: str
    policy_path: Path | None
    listen_host: str = "127.0.0.1"
    listen_port: int = 8080
    confdir: Path = Path("~/.mitmproxy")
    proxyauth: str | None = None
    trusted_header: str | None = None
    trusted_peers: tuple[Network, ...] = ()
    intercept: bool = True
    warn_without_intercept: Action = Action.BLOCK
    mitm_options: tuple[str, ...] = ()
    cache_ttl: float = 5.0
    max_stale: float = 300.0
    observability: ObservabilityConfig = field(default_factory=ObservabilityConfig)


def load_run_policy(path: Path | None) -> Policy:
    try:
        return load_default_policy() if path is None else load_policy(path)
    except PolicyError as e:
        # One line per mistake, each naming the file: the first follows the prefix.
        raise StartupError(f"policy refused: {e}") from None


def check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as e:
            why = "already in use" if e.errno == errno.EADDRINUSE else e.strerror
            raise StartupError(f"cannot listen on {host}:{port}: {why}") from None


def preflight(config: RunConfig, engine: Engine) -> tuple[Policy, bytes]:
    """What must hold before listening: the policy, a free port, the token signing key."""
    policy = load_run_policy(config.policy_path)
    check_port_free(config.listen_host, config.listen_port)
    try:
        return policy, signing_key(engine)
    except StoreUnavailable as e:
        raise StartupError(str(e)) from None


def serve(config: RunConfig, engine: Engine) -> int:
    """Run the proxy until SIGINT or SIGTERM; the engine is on a migrated database."""
    policy, key = preflight(config, engine)
    return asyncio.run(serve_loop(config, engine, policy, key))


async def serve_loop(
    config: RunConfig,
    engine: Engine,
    policy: Policy,
    key: bytes,
    worker: WorkerLink | None = None,
    *,
    first: Sequence[object] = (),
) -> int:
    """The proxy in this process's event loop: alone, or as one of `leeway run --workers N`.
    `first`: addons that run before Leeway's own, in its chain (a test's part that fails)."""
    logging.getLogger().setLevel(logging.INFO)
    # One line per client connection is noise on an office proxy; errors still show.
    logging.getLogger("mitmproxy.proxy.server").setLevel(logging.WARNING)
    opts = options.Options(
        listen_host=config.listen_host,
        listen_port=config.listen_port,
        confdir=str(config.confdir),
    )
    master = DumpMaster(opts, with_termlog=True, with_dumper=False)
    cache = EntitlementCache(
        SqlEntitlements(engine), ttl=config.cache_ttl, max_stale=config.max_stale
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
        own_endpoints=own_endpoints(config),
        siblings=worker or NoSiblings(),
    )
    # Alone, this process applies the retention and says where it listens; as a worker,
    # the first worker applies the retention and the supervisor speaks.
    ending: list[object]
    if worker is None:
        ending = [watch.retention, Banner(config, engine, policy, watch.metrics_url)]
    else:
        ending = [watch.retention, worker] if worker.index == 0 else [worker]
        worker.attach(leeway, watch.registry, master)
    chain = Chain(
        *first,
        Identity(leeway),
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
        *ending,
        on_error=watch.metrics.addon_failed,
    )
    watch.metrics.addon_hooks(chain.hooks)
    master.addons.add(chain)
    _apply_options(master, config)
    await _start_watching(watch, serve_metrics=worker is None)
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


def own_endpoints(config: RunConfig) -> frozenset[tuple[str, int]]:
    """The metrics endpoint as a client behind the proxy would name it."""
    port = config.observability.metrics_port
    if not port:
        return frozenset()
    host = config.observability.metrics_host.lower()
    loopback = host in {"127.0.0.1", "localhost", "::1"} or host.startswith("127.")
    wildcard = host in {"0.0.0.0", "::", ""}  # noqa: S104 (a comparison, not a bind)
    names = {"loopback"} if loopback or wildcard else {host}
    return frozenset((name, port) for name in names)


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


def _apply_options(master: DumpMaster, config: RunConfig) -> None:
    """Production defaults, then the operator's own, refusing unknown or bad options."""
    try:
        master.options.update(**PRODUCTION_OPTIONS)
        if config.proxyauth:
            master.options.update(proxyauth=config.proxyauth)
        master.options.set(*config.mitm_options)
    except (exceptions.OptionsError, KeyError) as e:
        raise StartupError(f"mitmproxy option refused: {e}") from None
    if master.options.deferred:
        names = ", ".join(sorted(master.options.deferred))
        raise StartupError(f"unknown mitmproxy option(s): {names}")


class Banner:
    """Says where the proxy listens once it does (and once mitmproxy has made its CA)."""

    def __init__(
        self, config: RunConfig, engine: Engine, policy: Policy, metrics_url: str | None = None
    ) -> None:
        self.config = config
        self.engine = engine
        self.policy = policy
        self.metrics_url = metrics_url

    def running(self) -> None:
        print_banner(self.config, self.engine, self.policy, self.metrics_url)


def print_banner(
    config: RunConfig,
    engine: Engine,
    policy: Policy,
    metrics_url: str | None = None,
    *,
    workers: int = 1,
) -> None:
    ca = Path(config.confdir).expanduser() / "mitmproxy-ca-cert.pem"
    mode = "categorised sites only" if config.intercept else "off (decided at CONNECT)"
    lines = [
        f"Leeway proxy listening on {config.listen_host}:{config.listen_port}",
        f"  policy:   {policy.source} (revision {policy.revision})",
        f"  database: {mask_url(engine.url)}",
        f"  TLS interception: {mode}",
        f"  metrics:  {metrics_url or 'off'}",
        *([f"  workers:  {workers} processes sharing the port"] if workers > 1 else []),
        f"  CA certificate: {ca}",
        "  Install it on clients: browse to http://mitm.it through the proxy, or copy the",
        "  file above into the system or browser trust store.",
    ]
    print("\n".join(lines), flush=True)
