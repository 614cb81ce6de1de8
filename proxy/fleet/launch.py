"""`leeway run --workers N`: check once, start the supervisor and its /metrics, run till stopped."""

from __future__ import annotations

from typing import TYPE_CHECKING

from proxy.fleet.supervisor import Supervisor
from proxy.metrics.proxy_metrics import MetricsServer, serve_metrics
from proxy.runtime.startup import RunConfig, StartupError, preflight, print_banner

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from policy import Policy


def supervise(config: RunConfig, engine: Engine, policy: Policy, workers: int) -> int:
    """Run `workers` proxy processes on config's port until SIGINT or SIGTERM; each loads
    the policy itself, as `policy` was loaded."""
    key = preflight(config, engine)
    supervisor = Supervisor(config, workers, key)
    supervisor.catch_signals()
    server: MetricsServer | None = None
    try:
        if config.observability.metrics_port:
            server = _serve_metrics(supervisor, config)
        supervisor.start_all()
        _banner(config, engine, policy, supervisor)
        return supervisor.run()
    finally:
        supervisor.stop_all()
        if server is not None:
            server.close()
        engine.dispose()


def _serve_metrics(supervisor: Supervisor, config: RunConfig) -> MetricsServer:
    host, port = config.observability.metrics_host, config.observability.metrics_port
    try:
        return serve_metrics(supervisor.registry(), host, port)
    except OSError as e:
        raise StartupError(str(e)) from None


def _banner(config: RunConfig, engine: Engine, policy: Policy, supervisor: Supervisor) -> None:
    url = config.observability.metrics_url
    print_banner(config, engine, policy, url, workers=supervisor.workers)
