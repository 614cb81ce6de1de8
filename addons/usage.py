"""What happened, for metrics and the audit trail: decisions, Continues, bytes moved.

The addons report through the `Observer` protocol; `proxy.recording` turns the reports
into Prometheus metrics and audit events. Nothing here may block the event loop.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from mitmproxy import http

from addons.context import Who
from policy import Decision, Subject

DECISION_KEY = "leeway.decision"


class Observer(Protocol):
    def decided(
        self, decision: Decision, who: Who, subject: Subject, seconds: float, now: datetime
    ) -> None: ...

    def acknowledged(
        self, who: Who, subject: Subject | None, category: str, host: str, now: datetime
    ) -> None: ...

    def transferred(self, category: str | None, direction: str, size: int) -> None: ...


class Nobody:
    """An observer that keeps nothing (tests, and a proxy run without records)."""

    def decided(
        self, decision: Decision, who: Who, subject: Subject, seconds: float, now: datetime
    ) -> None:
        return None

    def acknowledged(
        self, who: Who, subject: Subject | None, category: str, host: str, now: datetime
    ) -> None:
        return None

    def transferred(self, category: str | None, direction: str, size: int) -> None:
        return None


def body_size(message: http.Message) -> int:
    """Bytes of a body, also when it was streamed (then the announced length)."""
    if message.raw_content is not None:
        return len(message.raw_content)
    announced = message.headers.get("content-length", "")
    return int(announced) if announced.isdigit() else 0


class Usage:
    """Counts the bytes each categorised request moved, up and down."""

    def __init__(self, observer: Observer) -> None:
        self.observer = observer

    def response(self, flow: http.HTTPFlow) -> None:
        decision: Decision | None = flow.metadata.get(DECISION_KEY)
        if decision is None or decision.category is None or flow.response is None:
            return
        self.observer.transferred(decision.category, "up", body_size(flow.request))
        self.observer.transferred(decision.category, "down", body_size(flow.response))
