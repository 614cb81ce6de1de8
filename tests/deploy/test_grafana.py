"""The Grafana dashboard: well formed, valid PromQL, and every metric it names exists."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from tests.deploy.conftest import METRIC, check_names, load_dashboard, run_promtool

if TYPE_CHECKING:
    from pathlib import Path

    from tests.deploy.conftest import Exposition

# What Grafana puts in place of its variables, for Prometheus's own parser.
VARIABLES = {"$__rate_interval": "5m", "$instance": ".*"}
PANELS_WANTED = (
    "Decisions by action",
    "Decisions by category",
    "Warnings and acknowledgements",
    "Blocks by reason",
    "Decision latency",
    "Entitlement cache hit ratio",
    "Store errors",
    "Audit queue depth",
    "Users trained per module",
)


def _targets() -> list[dict[str, Any]]:
    return [t for panel in load_dashboard()["panels"] for t in panel["targets"]]


def _promql(expr: str) -> str:
    for variable, value in VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"{expr!r}: a Grafana variable the test does not know"
    return expr


def test_the_dashboard_is_well_formed() -> None:
    dashboard = load_dashboard()
    panels = dashboard["panels"]
    assert dashboard["uid"] == "leeway"
    assert {v["name"] for v in dashboard["templating"]["list"]} == {"datasource", "instance"}
    assert len({p["id"] for p in panels}) == len(panels)
    assert set(PANELS_WANTED) <= {p["title"] for p in panels}
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], f"{panel['title']}: no query"
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(set(ref_ids)) == len(ref_ids), panel["title"]


def test_no_two_panels_overlap() -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in load_dashboard()["panels"]:
        grid = panel["gridPos"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_every_query_is_valid_promql(promtool: str, tmp_path: Path) -> None:
    rules = [
        {"record": f"dashboard:query_{i}", "expr": _promql(t["expr"])}
        for i, t in enumerate(_targets())
    ]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))
    assert f"SUCCESS: {len(rules)} rules found" in run_promtool(promtool, "check", "rules", path)


def test_every_metric_the_dashboard_names_exists(exposition: Exposition) -> None:
    expressions = [_promql(t["expr"]) for t in _targets()]
    seen = check_names(expressions, exposition)
    assert {
        "leeway_decisions_total",
        "leeway_acknowledgements_total",
        "leeway_decision_seconds_bucket",
        "leeway_entitlement_cache_hits_total",
        "leeway_store_errors_total",
        "leeway_audit_queue_depth",
        "leeway_users_trained",
    } <= seen


def test_the_proxy_picker_reads_a_metric_that_exists(exposition: Exposition) -> None:
    (picker,) = [v for v in load_dashboard()["templating"]["list"] if v["name"] == "instance"]
    names = [name for name, _ in METRIC.findall(picker["definition"])]
    assert names and all(name in exposition for name in names)
