"""fold_departments, and that metrics and reports fold the same people into the same groups."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from sqlalchemy.orm import Session

from proxy.metrics.proxy_metrics import DepartmentLabels
from proxy.metrics.store_gauges import StoreGauges
from proxy.privacy import OTHER, fold_departments
from proxy.reports.build import Scope, build_report
from tests.proxy.reports.report_support import DAY, NOW, Rows, report_policy

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


@pytest.mark.parametrize(
    ("sizes", "k", "expected"),
    [
        pytest.param({"a": 5, "b": 7}, 5, {"a": "a", "b": "b"}, id="all large"),
        pytest.param({"a": 5, "b": 3, "c": 2}, 5, {"a": "a", "b": OTHER, "c": OTHER}, id="small"),
        pytest.param(
            {"a": 5, "b": 6, "c": 2}, 5, {"a": OTHER, "b": "b", "c": OTHER}, id="other too small"
        ),
        pytest.param({"a": 5, None: 1}, 5, {"a": OTHER, None: OTHER}, id="no department"),
        pytest.param({"a": 3}, 5, {"a": OTHER}, id="small office"),
        pytest.param({"other": 9, "a": 5}, 5, {"other": OTHER, "a": "a"}, id="named other"),
        pytest.param({"a": 1, None: 1}, 1, {"a": "a", None: OTHER}, id="k=1"),
    ],
)
def test_fold_departments(sizes: dict[str | None, int], k: int, expected: object) -> None:
    assert fold_departments(sizes, k) == expected


@pytest.mark.parametrize(
    "sizes",
    [
        pytest.param({"finance": 6, "legal": 5, "it": 2, None: 1}, id="other too small"),
        pytest.param({"finance": 6, "legal": 4}, id="small named department"),
        pytest.param({"finance": 9, "legal": 7, None: 5}, id="all large"),
        pytest.param({"finance": 3}, id="small office"),
    ],
)
def test_metrics_and_reports_fold_the_same_departments(
    sizes: dict[str | None, int], engine: Engine
) -> None:
    """The department label of `leeway_decisions_total` and the report's coverage groups,
    from the same rows: `other` holds the same people in both."""
    rows = Rows(engine)
    for n, (department, size) in enumerate(sizes.items()):
        rows.staff(department, f"u{n}-", size)
    k = 5
    labels = DepartmentLabels(StoreGauges(engine, {}, timedelta(0)).department_sizes(), k)
    with Session(engine) as session:
        scope = Scope(since=NOW - 7 * DAY, until=NOW, min_group=k)
        report = build_report(session, report_policy(), scope)
    reported = {c.group for c in report.coverage}

    assert {labels.label(department) for department in sizes} == reported
    for department in sizes:
        expected = fold_departments(sizes, k)[department]
        assert labels.label(department) == expected
    assert set(labels.values) == reported | {OTHER}
