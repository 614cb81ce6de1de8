"""Metrics: series at 0 from the start, counters that move, closed label sets, /metrics served."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from policy.decision import Access, Action, Decision, Reason
from proxy.metrics.proxy_metrics import DepartmentLabels, Metrics, serve_metrics
from proxy.runtime.entitlement_cache import CacheStats

if TYPE_CHECKING:
    from collections.abc import Iterator

CATEGORIES = ("social", "rich-media")
OTHER = "other"


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> Metrics:
    return Metrics(registry, categories=CATEGORIES)


def decision(
    action: Action = Action.WARN,
    reason: Reason = Reason.RULE_MATCHED,
    category: str | None = "social",
    host: str = "www.facebook.com",
) -> Decision:
    rule = "everyone" if category else None
    return Decision(
        action=action,
        access=Access.READ,
        reason=reason,
        host=host,
        category=category,
        rule=rule,
        revision="rev-1",
    )


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_every_series_exists_at_zero_from_the_start(registry: CollectorRegistry) -> None:
    Metrics(registry, categories=CATEGORIES)
    for category in (*CATEGORIES, "none"):
        for action in Action:
            for reason in Reason:
                labels = {"category": category, "action": action, "reason": reason}
                assert value(registry, "leeway_decisions_total", **labels) == 0
        assert value(registry, "leeway_acknowledgements_total", category=category) == 0
        assert value(registry, "leeway_requests_total", category=category) == 0
        for way in ("up", "down"):
            assert value(registry, "leeway_bytes_total", category=category, direction=way) == 0
    for name in ("leeway_store_errors_total", "leeway_audit_events_dropped_total"):
        assert value(registry, name) == 0
    assert value(registry, "leeway_decision_seconds_count") == 0


def test_counters_move(metrics: Metrics, registry: CollectorRegistry) -> None:
    metrics.decided(decision(), 0.00002)
    metrics.decided(decision(), 0.003)
    metrics.acknowledged("social")
    metrics.request("rich-media")
    metrics.transferred("social", "up", 300)
    metrics.transferred("social", "down", 5000)
    metrics.transferred("social", "down", 0)
    metrics.store_error()
    metrics.audit_dropped(3)

    warn = {"category": "social", "action": "warn", "reason": "rule_matched"}
    assert value(registry, "leeway_decisions_total", **warn) == 2
    assert value(registry, "leeway_decision_seconds_count") == 2
    assert value(registry, "leeway_decision_seconds_bucket", le="2.5e-05") == 1
    assert value(registry, "leeway_decision_seconds_bucket", le="0.005") == 2
    assert value(registry, "leeway_acknowledgements_total", category="social") == 1
    assert value(registry, "leeway_requests_total", category="rich-media") == 1
    assert value(registry, "leeway_bytes_total", category="social", direction="up") == 300
    assert value(registry, "leeway_bytes_total", category="social", direction="down") == 5000
    assert value(registry, "leeway_store_errors_total") == 1
    assert value(registry, "leeway_audit_events_dropped_total") == 3


@pytest.mark.parametrize(
    ("given", "labels"),
    [
        pytest.param(
            decision(Action.ALLOW, Reason.UNCATEGORIZED, None, "example.org"),
            {"category": "none", "action": "allow", "reason": "uncategorized"},
            id="uncategorised -> category none",
        ),
        pytest.param(
            decision(Action.BLOCK, Reason.INVALID_HOST, None, "bad host!"),
            {"category": "none", "action": "block", "reason": "invalid_host"},
            id="invalid host -> category none",
        ),
        pytest.param(
            decision(Action.BLOCK, Reason.NO_MATCHING_RULE, "rich-media"),
            {"category": "rich-media", "action": "block", "reason": "no_matching_rule"},
            id="policy category -> itself",
        ),
        pytest.param(
            decision(Action.BLOCK, Reason.RULE_MATCHED, "gaming"),
            {"category": "other", "action": "block", "reason": "rule_matched"},
            id="category the metrics were not told about -> other",
        ),
    ],
)
def test_decision_labels(
    metrics: Metrics, registry: CollectorRegistry, given: Decision, labels: dict[str, str]
) -> None:
    metrics.decided(given, 0.00001)
    assert value(registry, "leeway_decisions_total", **labels) == 1


def test_no_label_value_is_a_host_or_a_username(registry: CollectorRegistry) -> None:
    metrics = Metrics(
        registry, categories=CATEGORIES, departments=DepartmentLabels({"finance": 9, "alice": 1})
    )
    hosts = ("private-clinic.example", "www.facebook.com", "10.1.2.3", "bad host!")
    for host in hosts:
        metrics.decided(decision(host=host), 0.00001, department="alice")
        metrics.decided(decision(category=None, host=host), 0.00001, department="bob-team")
        metrics.request(host)
        metrics.acknowledged(host)
        metrics.transferred(host, "down", 10)
    text = generate_latest(registry).decode()
    for secret in (*hosts, "alice", "bob-team", "facebook"):
        assert secret not in text
    assert value(registry, "leeway_requests_total", category="other") == len(hosts)


def test_departments_below_k_fold_into_other() -> None:
    labels = DepartmentLabels({"finance": 12, "it": 5, "legal": 4, None: 1}, k=5)
    assert labels.values == ("finance", "it", "other")
    departments = ("finance", "it", "legal", None, "nobody")
    assert [labels.label(d) for d in departments] == ["finance", "it", OTHER, OTHER, OTHER]
    smaller = DepartmentLabels({"finance": 12, "it": 5, "legal": 4}, k=5)
    assert smaller.values == ("finance", "other"), "other (legal's 4) would single people out"
    with pytest.raises(ValueError, match="k must be at least 1, got 0"):
        DepartmentLabels({}, k=0)


def test_decisions_by_department(registry: CollectorRegistry) -> None:
    departments = DepartmentLabels({"finance": 12, "legal": 4, None: 1})
    metrics = Metrics(registry, categories=CATEGORIES, departments=departments)
    block = {"category": "social", "action": "block", "reason": "no_matching_rule"}
    assert value(registry, "leeway_decisions_total", **block, department="finance") == 0
    assert value(registry, "leeway_decisions_total", **block, department="other") == 0
    assert value(registry, "leeway_decisions_total", **block, department="legal") is None

    metrics.decided(decision(Action.BLOCK, Reason.NO_MATCHING_RULE), 0.00001, "legal")
    metrics.decided(decision(Action.BLOCK, Reason.NO_MATCHING_RULE), 0.00001, None)
    assert value(registry, "leeway_decisions_total", **block, department="other") == 2

    metrics.use_departments(DepartmentLabels({"finance": 12, "legal": 5}))
    assert value(registry, "leeway_decisions_total", **block, department="legal") == 0
    metrics.decided(decision(Action.BLOCK, Reason.NO_MATCHING_RULE), 0.00001, "legal")
    assert value(registry, "leeway_decisions_total", **block, department="legal") == 1


def test_departments_are_off_unless_asked_for(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    metrics.decided(decision(), 0.00001, department="finance")
    warn = {"category": "social", "action": "warn", "reason": "rule_matched"}
    assert value(registry, "leeway_decisions_total", **warn) == 1
    assert "department" not in generate_latest(registry).decode()
    with pytest.raises(ValueError, match="department labels are off"):
        metrics.use_departments(DepartmentLabels({"finance": 12}))


def test_a_reloaded_policy_brings_its_categories_in(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    metrics.add_categories(["social", "gaming"])
    assert value(registry, "leeway_requests_total", category="gaming") == 0
    metrics.request("gaming")
    assert value(registry, "leeway_requests_total", category="gaming") == 1


def test_policy_info_switches_revision(metrics: Metrics, registry: CollectorRegistry) -> None:
    metrics.policy_loaded("a1b2")
    assert value(registry, "leeway_policy_info", revision="a1b2") == 1
    metrics.policy_loaded("c3d4")
    metrics.policy_loaded("c3d4")
    assert value(registry, "leeway_policy_info", revision="c3d4") == 1
    assert value(registry, "leeway_policy_info", revision="a1b2") is None


def test_a_direction_outside_up_and_down_is_refused(metrics: Metrics) -> None:
    with pytest.raises(ValueError, match="direction 'sideways': expected one of up, down"):
        metrics.transferred("social", "sideways", 1)  # type: ignore[arg-type]  # the point


def test_cache_counters_are_read_at_scrape_time(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    stats = CacheStats()
    metrics.watch_cache(lambda: stats)
    assert value(registry, "leeway_entitlement_cache_hits_total") == 0
    stats.hits, stats.misses, stats.loads, stats.store_errors = 40, 3, 2, 1
    metrics.store_error()
    assert value(registry, "leeway_entitlement_cache_hits_total") == 40
    assert value(registry, "leeway_entitlement_cache_misses_total") == 3
    assert value(registry, "leeway_entitlement_cache_loads_total") == 2
    # one place to alert on: failed entitlement loads are store errors too
    assert value(registry, "leeway_store_errors_total") == 2


def test_audit_queue_depth_is_read_at_scrape_time(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    queue = [1, 2, 3]
    metrics.watch_audit_queue(lambda: len(queue))
    assert value(registry, "leeway_audit_queue_depth") == 3
    queue.clear()
    assert value(registry, "leeway_audit_queue_depth") == 0


@pytest.fixture
def served(metrics: Metrics, registry: CollectorRegistry) -> Iterator[int]:
    server = serve_metrics(registry, "127.0.0.1", 0)
    try:
        yield server.port
    finally:
        server.close()


def test_metrics_are_served_over_http(metrics: Metrics, served: int) -> None:
    metrics.decided(decision(), 0.00001)
    response = httpx.get(f"http://127.0.0.1:{served}/metrics", timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    line = 'leeway_decisions_total{action="warn",category="social",reason="rule_matched"} 1.0'
    assert line in response.text


def test_a_busy_port_is_refused(registry: CollectorRegistry) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(OSError, match=f"127.0.0.1:{port}: the port is already in use"):
            serve_metrics(registry, "127.0.0.1", port)


def test_refused_tunnels_are_counted_by_category_and_reason(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    for category in (*CATEGORIES, "none"):
        for reason in ("raw", "upgrade", "blocked", "server_name"):
            labels = {"category": category, "reason": reason}
            assert value(registry, "leeway_tunnels_refused_total", **labels) == 0
    metrics.tunnel_refused("rich-media", "raw")
    metrics.tunnel_refused(None, "raw")
    metrics.tunnel_refused("social", "blocked")
    assert value(registry, "leeway_tunnels_refused_total", category="rich-media", reason="raw") == 1
    assert value(registry, "leeway_tunnels_refused_total", category="none", reason="raw") == 1
    assert value(registry, "leeway_tunnels_refused_total", category="social", reason="blocked") == 1
    with pytest.raises(
        ValueError, match="tunnel refusal 'vpn': expected one of raw, upgrade, blocked, server_name"
    ):
        metrics.tunnel_refused("social", "vpn")  # type: ignore[arg-type]  # the point
