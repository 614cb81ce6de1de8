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

from addons.page_templates import TemplateRefused, Templates
from addons.pages import PAGE_SAMPLES
from addons.portal_samples import PORTAL_SAMPLES
from addons.protocols import NoSiblings
from policy import Action, PolicyError, load_policy
from policy.destinations import DestinationError, DestinationRules, Ports, parse_networks
from proxy.runtime.directory_tls import CaFileError, verifying_context
from proxy.runtime.observability import ObservabilityConfig
from proxy.settings import SettingError
from proxy.store.db import StoreUnavailable, mask_url
from proxy.store.keys import signing_key

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from mitmproxy.master import Master
    from sqlalchemy.engine import Engine

    from addons.context import Leeway, Network
    from addons.protocols import Siblings
    from policy import Policy
    from proxy.runtime.observability import Observability
    from proxy.settings import Settings


class StartupError(Exception):
    """Leeway cannot start: one line saying why."""


@dataclass(frozen=True, slots=True)
class RunConfig:
    """What `leeway run` runs with: the settings, parsed (no defaults of its own)."""

    db_url: str
    policy_path: Path | None
    listen_host: str
    listen_port: int
    workers: int
    confdir: Path
    proxyauth: str | None
    auth_timeout: float
    auth_ca_file: Path | None
    trusted_header: str | None
    trusted_peers: tuple[Network, ...]
    intercept: bool
    warn_without_intercept: Action
    mitm_options: tuple[str, ...]
    # The configured part; the host's own addresses and ports are added at start.
    destinations: DestinationRules
    cache_ttl: float
    cache_max_stale: float
    templates: Path | None
    observability: ObservabilityConfig
    portal_host: str

    @classmethod
    def from_settings(cls, settings: Settings, mitm_options: Iterable[str] = ()) -> RunConfig:
        """The settings parsed; `SettingError` (naming the flag and variable) if one is bad."""
        if settings.trusted_header and not settings.trusted_peers:
            raise SettingError("--trusted-header needs --trusted-peers: whose header to believe")
        destinations = DestinationRules(
            allowed=_parsed("allow_destinations", parse_networks, settings),
            connect_ports=_parsed("connect_ports", Ports.parse, settings),
            http_ports=_parsed("http_ports", Ports.parse, settings),
        )
        derived = settings.fields_of(
            cls,
            policy_path=settings.policy,
            auth_ca_file=_auth_ca_file(settings),
            confdir=settings.confdir.expanduser(),
            trusted_peers=_parsed("trusted_peers", parse_networks, settings),
            warn_without_intercept=Action(settings.warn_without_intercept),
            mitm_options=tuple(mitm_options),
            destinations=destinations,
            observability=ObservabilityConfig.from_settings(settings),
        )
        return cls(**derived)


def _parsed[T](name: str, parse: Callable[[str], T], settings: Settings) -> T:
    """A setting parsed, or refused naming its flag and variable."""
    try:
        return parse(getattr(settings, name) or "")
    except DestinationError as e:
        raise SettingError.of(name, e) from None


def _auth_ca_file(settings: Settings) -> Path | None:
    """The sign-in's CA file, refused now if it is unusable or nothing would use it."""
    path = settings.auth_ca_file
    if path is None:
        return None
    if not (settings.proxyauth or "").startswith("ldaps:"):
        raise SettingError.of("auth_ca_file", "only --proxyauth ldaps:... uses it")
    try:
        verifying_context(path)
    except CaFileError as e:
        raise SettingError.of("auth_ca_file", e) from None
    return path


def load_run_policy(path: Path | None, portal_host: str) -> Policy:
    """`load_policy`, its refusal a `StartupError`, as is a policy that categorises the
    access page's host."""
    try:
        policy = load_policy(path)
    except PolicyError as e:
        # One line per mistake, each naming the file: the first follows the prefix.
        raise StartupError(f"policy refused: {e}") from None
    if (clash := portal_clash(policy, portal_host)) is not None:
        raise StartupError(f"policy refused: {clash}")
    return policy


def portal_clash(policy: Policy, portal_host: str) -> str | None:
    """Why `policy` cannot be served beside the access page, or None. The proxy answers
    the portal's name itself, so a category holding it would never be decided there."""
    found = policy.category_of(portal_host)
    if found is None:
        return None
    category, domain = found
    return (
        f"{policy.source}: the access page's host {portal_host} is in the category {category}"
        f" (listed as {domain}): give --portal-host another name or take it out of the policy"
    )


def load_run_templates(directory: Path | None) -> Templates:
    """The pages' templates, an operator's directory over the bundled ones, each page
    rendered once: a mistake is refused with its file and line."""
    try:
        # The bundled pages are rendered by their tests: only an operator's are tried here.
        samples = None if directory is None else {**PAGE_SAMPLES, **PORTAL_SAMPLES}
        return Templates.load(directory, samples)
    except TemplateRefused as e:
        raise StartupError(f"templates refused: {e}") from None


def check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as e:
            why = "already in use" if e.errno == errno.EADDRINUSE else e.strerror
            raise StartupError(f"cannot listen on {host}:{port}: {why}") from None


def preflight(config: RunConfig, engine: Engine) -> bytes:
    """What must hold before listening, once the policy has loaded (`load_run_policy`): a
    free port and the token signing key, which is returned."""
    check_port_free(config.listen_host, config.listen_port)
    try:
        return signing_key(engine)
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
        f"  access page: http://{config.portal_host}/ (and https://, through the proxy)",
        *([f"  workers:  {workers} processes sharing the port"] if workers > 1 else []),
        f"  CA certificate: {ca}",
        "  Install it on clients: browse to http://mitm.it through the proxy, or copy the",
        "  file above into the system or browser trust store.",
    ]
    print("\n".join(lines), flush=True)
