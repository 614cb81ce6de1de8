"""Recorder: every decision counted; an audit event for each on categorised traffic and
for each Continue, with who, where and why but no address; bytes by known direction only.

A fresh `CollectorRegistry` per test and a real `AuditTrail` on the test database: events
submitted wait in memory until the trail runs, then `stop` writes them.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import select

from addons.who import Who
from policy import Subject
from policy.decision import Access, Action, Decision, Reason
from proxy.audit.trail import AuditTrail
from proxy.metrics.proxy_metrics import Metrics
from proxy.runtime.recording import Recorder
from proxy.store.db import session_factory
from proxy.store.models import AccessEvent as EventRow

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.engine import Engine

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
INSTANCE = "proxy-7"
CLIENT = "10.0.0.5"
WANDA = Who("wanda", "proxyauth", CLIENT)
NOBODY = Who(None, "none", CLIENT)
IN_FINANCE = Subject("wanda", known=True, department="Finance")


def decision(
    action: Action = Action.WARN,
    reason: Reason = Reason.RULE_MATCHED,
    *,
    category: str | None = "social",
    host: str = "www.facebook.com",
    access: Access = Access.READ,
) -> Decision:
    rule = "everyone" if category else None
    return Decision(
        action=action,
        access=access,
        reason=reason,
        host=host,
        category=category,
        rule=rule,
        revision="rev-1",
    )


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def trail(engine: Engine, tmp_path: Path) -> AuditTrail:
    return AuditTrail(engine, tmp_path / "audit.journal")


@pytest.fixture
def recorder(registry: CollectorRegistry, trail: AuditTrail) -> Recorder:
    return Recorder(Metrics(registry, categories=("social", "rich-media")), trail, INSTANCE)


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def decisions(registry: CollectorRegistry, category: str, action: str, reason: str) -> float | None:
    labels = {"category": category, "action": action, "reason": reason}
    return value(registry, "leeway_decisions_total", **labels)


def stored(trail: AuditTrail, engine: Engine) -> list[EventRow]:
    """Run the trail until it has written what waits; the rows in the store, in order."""

    async def write() -> None:
        await trail.start()
        await trail.stop()

    asyncio.run(write())
    with session_factory(engine)() as session:
        return list(session.scalars(select(EventRow).order_by(EventRow.id)))


def columns(row: EventRow) -> list[object]:
    return [getattr(row, column.key) for column in EventRow.__table__.columns]


@pytest.mark.parametrize(
    ("made", "labels"),
    [
        pytest.param(decision(), ("social", "warn", "rule_matched"), id="categorised warn"),
        pytest.param(
            decision(Action.ALLOW, Reason.UNCATEGORIZED, category=None, host="example.org"),
            ("none", "allow", "uncategorized"),
            id="uncategorised allow",
        ),
        pytest.param(
            decision(Action.BLOCK, Reason.INVALID_HOST, category=None, host="exa mple"),
            ("none", "block", "invalid_host"),
            id="invalid host",
        ),
        pytest.param(
            decision(category="news"), ("other", "warn", "rule_matched"), id="unknown category"
        ),
    ],
)
def test_every_decision_is_counted(
    recorder: Recorder, registry: CollectorRegistry, made: Decision, labels: tuple[str, str, str]
) -> None:
    recorder.decided(made, WANDA, IN_FINANCE, 0.002, NOW)
    assert decisions(registry, *labels) == 1
    assert value(registry, "leeway_requests_total", category=labels[0]) == 1
    assert value(registry, "leeway_decision_seconds_count") == 1
    assert value(registry, "leeway_decision_seconds_sum") == pytest.approx(0.002)


def test_only_decisions_on_categorised_traffic_are_audited(
    recorder: Recorder, trail: AuditTrail, engine: Engine
) -> None:
    recorder.decided(
        decision(Action.ALLOW, Reason.UNCATEGORIZED, category=None), WANDA, IN_FINANCE, 0.0, NOW
    )
    recorder.decided(
        decision(Action.BLOCK, Reason.INVALID_HOST, category=None), WANDA, IN_FINANCE, 0.0, NOW
    )
    assert trail.depth() == 0
    blocked = decision(Action.BLOCK, access=Access.WRITE)
    recorder.decided(blocked, WANDA, IN_FINANCE, 0.0, NOW)
    assert trail.depth() == 1, "submitted, not yet written: no I/O on the event loop"

    [event] = stored(trail, engine)
    assert event.occurred_at == NOW
    assert (event.kind, event.username, event.department) == ("decision", "wanda", "Finance")
    assert (event.host, event.category, event.access) == ("www.facebook.com", "social", "write")
    assert (event.action, event.reason, event.rule) == ("block", "rule_matched", "everyone")
    assert event.instance == INSTANCE


def test_identical_decisions_within_a_flush_are_one_event_that_counts_them(
    recorder: Recorder, registry: CollectorRegistry, trail: AuditTrail, engine: Engine
) -> None:
    later = NOW.replace(second=1)
    for _ in range(3):  # a page and two of its images
        recorder.decided(decision(), WANDA, IN_FINANCE, 0.0, NOW)
    recorder.decided(decision(), WANDA, IN_FINANCE, 0.0, later)
    recorder.decided(decision(host="x.com"), WANDA, IN_FINANCE, 0.0, later)
    recorder.decided(decision(access=Access.WRITE), WANDA, IN_FINANCE, 0.0, later)
    recorder.decided(decision(), NOBODY, Subject.anonymous(), 0.0, later)

    events = stored(trail, engine)

    assert decisions(registry, "social", "warn", "rule_matched") == 7, "metrics count each"
    assert [(e.host, e.access, e.username, e.requests, e.occurred_at) for e in events] == [
        ("www.facebook.com", "read", "wanda", 4, NOW),  # from the first one's time
        ("x.com", "read", "wanda", 1, later),
        ("www.facebook.com", "write", "wanda", 1, later),
        ("www.facebook.com", "read", None, 1, later),
    ]


def test_a_continue_is_stored_after_the_decisions_counted_before_it(
    recorder: Recorder, trail: AuditTrail, engine: Engine
) -> None:
    recorder.decided(decision(), WANDA, IN_FINANCE, 0.0, NOW)
    recorder.acknowledged(WANDA, IN_FINANCE, "social", "www.facebook.com", NOW)
    recorder.decided(decision(), WANDA, IN_FINANCE, 0.0, NOW)

    events = stored(trail, engine)

    assert [(e.kind, e.requests) for e in events] == [
        ("decision", 1),
        ("acknowledgement", 1),
        ("decision", 1),
    ]


def test_an_unidentified_client_is_audited_without_its_address(
    recorder: Recorder, trail: AuditTrail, engine: Engine
) -> None:
    recorder.decided(decision(), NOBODY, Subject.anonymous(), 0.0, NOW)
    recorder.acknowledged(NOBODY, None, "social", "www.facebook.com", NOW)
    events = stored(trail, engine)
    assert [(e.kind, e.username, e.department) for e in events] == [
        ("decision", None, None),
        ("acknowledgement", None, None),
    ]
    assert all(CLIENT not in str(columns(row)) for row in events)


def test_a_continue_is_counted_and_audited(
    recorder: Recorder, registry: CollectorRegistry, trail: AuditTrail, engine: Engine
) -> None:
    recorder.acknowledged(WANDA, IN_FINANCE, "social", "www.facebook.com", NOW)
    assert value(registry, "leeway_acknowledgements_total", category="social") == 1
    assert value(registry, "leeway_acknowledgements_total", category="rich-media") == 0
    assert (
        sum(decisions(registry, "social", action, "acknowledged") or 0 for action in Action) == 0
    ), "a Continue is not a decision: the next request is"

    [event] = stored(trail, engine)
    assert (event.kind, event.username, event.department) == ("acknowledgement", "wanda", "Finance")
    assert (event.host, event.category, event.access) == ("www.facebook.com", "social", "read")
    assert (event.action, event.reason, event.rule) == ("allow", "acknowledged", None)
    assert (event.occurred_at, event.instance) == (NOW, INSTANCE)


def test_without_an_audit_trail_only_metrics_move(registry: CollectorRegistry) -> None:
    recorder = Recorder(Metrics(registry, categories=("social",)), None, INSTANCE)
    recorder.decided(decision(), WANDA, IN_FINANCE, 0.0, NOW)
    recorder.acknowledged(WANDA, IN_FINANCE, "social", "www.facebook.com", NOW)
    assert decisions(registry, "social", "warn", "rule_matched") == 1
    assert value(registry, "leeway_acknowledgements_total", category="social") == 1


def test_bytes_are_counted_by_known_direction_only(
    recorder: Recorder, registry: CollectorRegistry
) -> None:
    recorder.transferred("social", "up", 10)
    recorder.transferred("social", "down", 25)
    recorder.transferred(None, "down", 7)
    recorder.transferred("social", "sideways", 1000)  # not a direction: ignored, no error
    recorder.transferred("social", "", 1000)

    def transferred(category: str, direction: str) -> float | None:
        return value(registry, "leeway_bytes_total", category=category, direction=direction)

    assert transferred("social", "up") == 10
    assert transferred("social", "down") == 25
    assert transferred("none", "down") == 7
    sides = [
        s
        for family in registry.collect()
        for s in family.samples
        if s.name == "leeway_bytes_total" and s.labels["direction"] not in ("up", "down")
    ]
    assert sides == []


def test_refused_tunnels_are_counted_by_known_reason_only(
    recorder: Recorder, registry: CollectorRegistry
) -> None:
    recorder.tunnel_refused("rich-media", "raw")
    recorder.tunnel_refused("rich-media", "vpn")  # not a reason: ignored, no error
    assert value(registry, "leeway_tunnels_refused_total", category="rich-media", reason="raw") == 1
    reasons = {
        s.labels["reason"]
        for family in registry.collect()
        for s in family.samples
        if s.name == "leeway_tunnels_refused_total"
    }
    assert reasons == {"raw", "upgrade", "blocked", "server_name"}
