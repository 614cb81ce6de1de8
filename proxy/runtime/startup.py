"""What `leeway run` knows and checks before it listens, and what a lone proxy adds.

The start-up facts (`RunConfig`, `StartupError`, the policy, a free port, the signing key,
the banner) import no mitmproxy: a bad start is refused before mitmproxy is loaded. The
difference between a lone proxy and one of `leeway run --workers N` is a `Role` that
`serve_loop` is given (`Alone` here, `proxy.fleet.member.WorkerLink` for a worker).
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from addons.protocols import NoSiblings
from policy import Action, PolicyError, load_default_policy, load_policy
from policy.destinations import DestinationRules
from proxy.runtime.observability import ObservabilityConfig
from proxy.store.db import StoreUnavailable, mask_url
from proxy.store.keys import signing_key

if TYPE_CHECKING:
    from mitmproxy.master import Master
    from sqlalchemy.engine import Engine

    from addons.context import Leeway, Network
    from addons.protocols import Siblings
    from policy import Policy
    from proxy.runtime.observability import Observability


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
    # The configured part; the host's own addresses and ports are added at start.
    destinations: DestinationRules = field(default_factory=DestinationRules)
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


class Role(Protocol):
    """What differs between a lone proxy and a worker of `leeway run --workers N`."""

    @property
    def siblings(self) -> Siblings: ...

    @property
    def serves_metrics(self) -> bool: ...

    def last_parts(self, leeway: Leeway, watch: Observability, master: Master) -> list[object]:
        """The addons that end the chain (retention, the banner or the link to a supervisor)."""
        ...


@dataclass(frozen=True, slots=True)
class Alone:
    """A proxy that runs as one process: it applies the retention, serves its own metrics
    and says where it listens."""

    config: RunConfig
    engine: Engine
    policy: Policy
    siblings: Siblings = field(default_factory=NoSiblings)
    serves_metrics: bool = True

    def last_parts(self, leeway: Leeway, watch: Observability, master: Master) -> list[object]:
        return [watch.retention, Banner(self.config, self.engine, self.policy, watch.metrics_url)]


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
