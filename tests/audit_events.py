"""One access event for audit tests: a warned read of www.facebook.com unless told otherwise."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from proxy.store.access_event import AccessEvent


def access_event(occurred_at: datetime, **fields: Any) -> AccessEvent:
    values: dict[str, Any] = {
        "kind": "decision",
        "username": "alice",
        "department": "Finance",
        "host": "www.facebook.com",
        "category": "social",
        "access": "read",
        "action": "warn",
        "reason": "rule_matched",
        "rule": "everyone",
        "instance": "proxy-1",
    }
    return AccessEvent(occurred_at=occurred_at, **(values | fields))
