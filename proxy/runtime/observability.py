"""What a running proxy reports: Prometheus metrics, the audit trail and its retention.

Built once by `leeway run`, started before the proxy listens and stopped after it stops.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine

from policy import Policy
from proxy.audit.retention import Retention
from proxy.audit.trail import AuditTrail
from proxy.metrics.proxy_metrics import DepartmentLabels, Metrics, MetricsServer, serve_metrics
from proxy.metrics.store_gauges import StoreGauges
from proxy.runtime.entitlement_cache import EntitlementCache
from proxy.runtime.recording import Recorder
from proxy.store.db import StoreUnavailable

if TYPE_CHECKING:
    from proxy.settings import Settings

logger = logging.getLogger("leeway.metrics")


@dataclass(frozen=True, slots=True)
class ObservabilityConfig:
    """The metrics and audit settings (no defaults of their own: see `from_settings`)."""

    metrics_host: str
    metrics_port: int  # 0: no endpoint
    metrics_departments: bool
    min_group: int
    instance: str
    audit_journal: Path
    audit_retention: timedelta | None
    audit_pseudonymise_after: timedelta | None

    @classmethod
    def from_settings(cls, settings: Settings) -> ObservabilityConfig:
        return cls(**settings.fields_of(cls, audit_journal=settings.audit_journal.expanduser()))

    @property
    def metrics_url(self) -> str | None:
        """The metrics endpoint for the banner, one process or several; None when it is off."""
        if not self.metrics_port:
            return None
        return f"http://{self.metrics_host}:{self.metrics_port}/metrics"


class Observability:
    """Metrics, audit trail and retention for one proxy process."""

    def __init__(self, config: ObservabilityConfig, engine: Engine, policy: Policy) -> None:
        self.config = config
        self.engine = engine
        self.registry = CollectorRegistry()
        self.metrics = Metrics(
            self.registry,
            categories=policy.categories,
            departments=self._departments(policy) if config.metrics_departments else None,
        )
        self.metrics.policy_loaded(policy.revision)
        self.metrics.watch_store(StoreGauges.for_policy(engine, policy))
        self.audit = AuditTrail(engine, config.audit_journal, on_dropped=self.metrics.audit_dropped)
        self.metrics.watch_audit_queue(self.audit.depth)
        self.recorder = Recorder(self.metrics, self.audit, config.instance)
        self.retention = Retention(
            engine,
            retention=config.audit_retention,
            pseudonymise_after=config.audit_pseudonymise_after,
        )
        self._server: MetricsServer | None = None

    def _departments(self, policy: Policy) -> DepartmentLabels | None:
        try:
            sizes = StoreGauges.for_policy(self.engine, policy).department_sizes()
        except StoreUnavailable as e:
            logger.warning("department labels off until the store answers: %s", e)
            return None
        return DepartmentLabels(sizes, self.config.min_group)

    def watch_cache(self, cache: EntitlementCache) -> None:
        self.metrics.watch_cache(lambda: cache.stats)

    def policy_changed(self, policy: Policy) -> None:
        self.metrics.add_categories(policy.categories)
        self.metrics.policy_loaded(policy.revision)
        self.metrics.watch_store(StoreGauges.for_policy(self.engine, policy))

    def serve(self) -> None:
        """Start the /metrics endpoint; OSError (with the reason) when it cannot listen."""
        if self.config.metrics_port:
            self._server = serve_metrics(
                self.registry, self.config.metrics_host, self.config.metrics_port
            )

    @property
    def metrics_url(self) -> str | None:
        return self.config.metrics_url

    async def start(self) -> None:
        await self.audit.start()

    async def stop(self) -> None:
        await self.audit.stop()
        if self._server is not None:
            self._server.close()
