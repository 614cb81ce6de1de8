"""Turn what the addons observe into Prometheus metrics and audit events.

Runs on the event loop: every call is O(1) and does no I/O (the audit trail only queues).
"""

from __future__ import annotations

from datetime import datetime

from addons.who import Who
from policy import Decision, Subject
from proxy.audit.trail import AccessEvent, AuditTrail
from proxy.metrics.proxy_metrics import TUNNEL_REFUSALS, Direction, Metrics, TunnelRefusal

DIRECTIONS: dict[str, Direction] = {"up": "up", "down": "down"}
REFUSALS: dict[str, TunnelRefusal] = {reason: reason for reason in TUNNEL_REFUSALS}


class Recorder:
    """Counts every decision; keeps an audit event for each on categorised traffic."""

    def __init__(self, metrics: Metrics, audit: AuditTrail | None, instance: str) -> None:
        self.metrics = metrics
        self.audit = audit
        self.instance = instance

    def decided(
        self, decision: Decision, who: Who, subject: Subject, seconds: float, now: datetime
    ) -> None:
        self.metrics.decided(decision, seconds, subject.department)
        self.metrics.request(decision.category)
        if self.audit is None or decision.category is None:
            return
        category = decision.category
        # Identical decisions within one audit flush are one event that counts them.
        key = (
            who.username,
            subject.department,
            decision.host,
            category,
            decision.access,
            decision.action,
            decision.reason,
            decision.rule,
        )
        self.audit.count(
            key,
            lambda: AccessEvent(
                occurred_at=now,
                kind="decision",
                username=who.username,
                department=subject.department,
                host=decision.host,
                category=category,
                access=str(decision.access),
                action=str(decision.action),
                reason=str(decision.reason),
                rule=decision.rule,
                instance=self.instance,
            ),
        )

    def acknowledged(
        self, who: Who, subject: Subject | None, category: str, host: str, now: datetime
    ) -> None:
        self.metrics.acknowledged(category)
        if self.audit is None:
            return
        self.audit.submit(
            AccessEvent(
                occurred_at=now,
                kind="acknowledgement",
                username=who.username,
                department=subject.department if subject is not None else None,
                host=host,
                category=category,
                access="read",
                action="allow",
                reason="acknowledged",
                rule=None,
                instance=self.instance,
            )
        )

    def transferred(self, category: str | None, direction: str, size: int) -> None:
        if direction in DIRECTIONS:
            self.metrics.transferred(category, DIRECTIONS[direction], size)

    def tunnel_refused(self, category: str | None, reason: str) -> None:
        if reason in REFUSALS:
            self.metrics.tunnel_refused(category, REFUSALS[reason])
