"""The Prometheus files: promtool accepts them, the alerts fire when they should, and every
metric they name exists in a real /metrics page."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from tests.deploy.conftest import PROMETHEUS, check_names, load_yaml, run_promtool

if TYPE_CHECKING:
    from pathlib import Path

    from tests.deploy.conftest import Exposition

ALERTS = PROMETHEUS / "alerts.yml"


def test_promtool_accepts_the_alert_rules(promtool: str) -> None:
    assert "SUCCESS: 5 rules found" in run_promtool(promtool, "check", "rules", ALERTS)


def test_promtool_accepts_the_scrape_config_and_its_rule_file(promtool: str) -> None:
    output = run_promtool(promtool, "check", "config", PROMETHEUS / "prometheus.yml")
    assert "SUCCESS: 1 rule files found" in output


def test_the_scrape_config_names_the_default_metrics_port() -> None:
    config = load_yaml(PROMETHEUS / "prometheus.yml")
    assert config["rule_files"] == ["alerts.yml"]
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    targets = [t for group in job["static_configs"] for t in group["targets"]]
    assert targets and all(t.endswith(":9464") for t in targets)


def _expressions() -> list[str]:
    return [rule["expr"] for group in load_yaml(ALERTS)["groups"] for rule in group["rules"]]


def test_every_metric_the_alerts_name_exists(exposition: Exposition) -> None:
    seen = check_names(_expressions(), exposition)
    assert {
        "leeway_decisions_total",
        "leeway_store_errors_total",
        "leeway_audit_events_dropped_total",
    } <= seen


def test_recorded_series_the_alerts_use_are_recorded() -> None:
    groups = load_yaml(ALERTS)["groups"]
    recorded = {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}
    used = {n for expr in _expressions() for n in re.findall(r"\b\w+:[\w:]+", expr)}
    assert used == recorded


def _series(name: str, values: str, instance: str = "leeway-1:9464", **labels: str) -> Any:
    matchers = ", ".join(
        f'{k}="{v}"' for k, v in {"job": "leeway", "instance": instance, **labels}.items()
    )
    return {"series": f"{name}{{{matchers}}}", "values": values}


def _firing(alert: str, at: str, *instances: str, severity: str = "warn") -> Any:
    expected = [
        {"exp_labels": {"job": "leeway", "instance": i, "severity": severity}} for i in instances
    ]
    return {"alertname": alert, "eval_time": at, "exp_alerts": expected}


def _surge(blocks: str, other: tuple[str, str], *expected: Any) -> Any:
    """Blocks, and another action's decisions, on one proxy."""
    labels = {"category": "social", "reason": "rule_matched"}
    return {
        "interval": "1m",
        "input_series": [
            _series("leeway_decisions_total", blocks, action="block", **labels),
            _series("leeway_decisions_total", other[1], action=other[0], **labels),
        ],
        "alert_rule_test": list(expected),
    }


STEADY = "0+60x300 18060+60x40"  # one block a second for almost six hours
SURGE = "0+60x300 18600+600x40"  # then ten a second
SURGED = {"exp_labels": {"job": "leeway", "severity": "warn"}}  # over all proxies
ALERT_TESTS = [
    {
        "interval": "1m",
        "input_series": [_series("up", "1 1 0 0 0 0 0"), _series("up", "1x6", "leeway-2:9464")],
        "alert_rule_test": [
            _firing("LeewayProxyDown", "3m", severity="page"),  # down for 1 minute: pending
            _firing("LeewayProxyDown", "5m", "leeway-1:9464", severity="page"),
        ],
    },
    {
        "interval": "1m",
        "input_series": [
            _series("leeway_store_errors_total", "0 0 0 1+1x12"),  # failing from minute 3
            _series("leeway_store_errors_total", "0 0 1x12", "leeway-2:9464"),  # one blip
        ],
        "alert_rule_test": [
            _firing("LeewayStoreErrors", "7m"),
            _firing("LeewayStoreErrors", "10m", "leeway-1:9464"),
        ],
    },
    {
        "interval": "1m",
        "input_series": [
            _series("leeway_audit_events_dropped_total", "0 0 0 2 2 0 0 0"),  # then a restart
            _series("leeway_audit_events_dropped_total", "0x7", "leeway-2:9464"),
        ],
        "alert_rule_test": [
            _firing("LeewayAuditEventsDropped", "2m"),
            _firing("LeewayAuditEventsDropped", "3m", "leeway-1:9464", severity="page"),
            _firing("LeewayAuditEventsDropped", "7m", "leeway-1:9464", severity="page"),
        ],
    },
    _surge(
        SURGE,
        ("allow", STEADY),
        _firing("LeewayBlockSurge", "250m"),
        _firing("LeewayBlockSurge", "305m"),  # three minutes in: not yet
        {"alertname": "LeewayBlockSurge", "eval_time": "325m", "exp_alerts": [SURGED]},
    ),
    # No surge: twice the usual blocks, allowed requests surging, a few blocks on a quiet proxy.
    _surge("0+60x300 18120+120x40", ("allow", STEADY), _firing("LeewayBlockSurge", "325m")),
    _surge(STEADY, ("allow", "0+60x300 18600+6000x40"), _firing("LeewayBlockSurge", "325m")),
    _surge("0+0.5x300 150+5x40", ("warn", STEADY), _firing("LeewayBlockSurge", "325m")),
]


def test_the_alerts_fire_when_they_should(promtool: str, tmp_path: Path) -> None:
    # The annotations are checked by `check rules`; here they would only need copying.
    rules = load_yaml(ALERTS)
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "rules.yml").write_text(json.dumps(rules), encoding="utf-8")
    tests = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": ALERT_TESTS}
    (tmp_path / "tests.yml").write_text(json.dumps(tests), encoding="utf-8")
    run_promtool(promtool, "test", "rules", tmp_path / "tests.yml")
