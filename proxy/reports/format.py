"""`leeway report` output: an aligned table for a terminal, or CSV and JSON for scripts.

`FORMATS` (also the command's help epilog) documents the CSV columns and JSON keys; they
are a contract: extend them, never rename.
"""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING

from proxy.plain_text import aligned, when

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from proxy.reports.build import Coverage, Report

FORMATS = """\
CSV: one table, one row per figure, with the header
  section,category,action,reason,rule,module,department,group,day,count,total,share,state
  section        the columns it fills
  decisions      category, action, count (decisions in the window)
  continue_rate  category, count (continued user-days), total (warned user-days), share
  block_reasons  reason, rule (empty: no rule matched), count; the 10 most frequent
  coverage       module, department, count (users with valid training), total (users), share
  role_model     module, group (managers or staff), count, total, share
  trend          day (YYYY-MM-DD, UTC), action, count (decisions that day)
  requests       category (or other), state, count (access requests made in the window, in
                 that state now), total (people who asked on the category)
  Other columns are empty; so are count and share of a group too small to show.
  share = count / total, 4 decimals (empty when total is 0).

JSON: one object with the keys
  since, until (ISO 8601, UTC), department (null: all), min_group, manager_role,
  decisions      [{category, action, count}]
  continue_rate  [{category, warned, continued, share}]
  block_reasons  [{reason, rule, count}]
  coverage       [{module, department, users, trained, share}]
  role_model     [{module, group, users, trained, share}]
  trend          [{day, action, count}]
  requests       [{category, state, count, people}]
  trained, count and share are null for a group too small to show; share is null when
  the total is 0.
"""

CSV_COLUMNS = (
    *("section", "category", "action", "reason", "rule", "module", "department", "group"),
    *("day", "count", "total", "share", "state"),
)


def _share(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def to_json(report: Report) -> str:
    scope = report.scope
    document = {
        "since": scope.since.isoformat(),
        "until": scope.until.isoformat(),
        "department": scope.department,
        "min_group": scope.min_group,
        "manager_role": scope.manager_role,
        "decisions": [
            {"category": d.category, "action": d.action, "count": d.count} for d in report.decisions
        ],
        "continue_rate": [
            {"category": c.category, "warned": c.warned, "continued": c.continued}
            | {"share": _share(c.share)}
            for c in report.continue_rate
        ],
        "block_reasons": [
            {"reason": b.reason, "rule": b.rule, "count": b.count} for b in report.block_reasons
        ],
        "coverage": [_coverage_json(c, "department") for c in report.coverage],
        "role_model": [_coverage_json(c, "group") for c in report.role_model],
        "trend": [
            {"day": t.day.isoformat(), "action": t.action, "count": t.count} for t in report.trend
        ],
        "requests": [
            {"category": r.category, "state": r.state, "count": r.count, "people": r.people}
            for r in report.requests
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


def _coverage_json(row: Coverage, group: str) -> dict[str, object]:
    return {"module": row.module, group: row.group, "users": row.users, "trained": row.trained} | {
        "share": _share(row.share)
    }


def to_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for section, row in _csv_rows(report):
        cells = {key: "" if value is None else value for key, value in row.items()}
        writer.writerow(dict.fromkeys(CSV_COLUMNS, "") | {"section": section} | cells)
    return buffer.getvalue()


def _csv_rows(report: Report) -> Iterator[tuple[str, dict[str, object]]]:
    for d in report.decisions:
        yield "decisions", {"category": d.category, "action": d.action, "count": d.count}
    for r in report.continue_rate:
        yield "continue_rate", {"category": r.category} | _ratio(r.continued, r.warned, r.share)
    for b in report.block_reasons:
        yield "block_reasons", {"reason": b.reason, "rule": b.rule, "count": b.count}
    for c in report.coverage:
        yield (
            "coverage",
            {"module": c.module, "department": c.group} | _ratio(c.trained, c.users, c.share),
        )
    for c in report.role_model:
        yield (
            "role_model",
            {"module": c.module, "group": c.group} | _ratio(c.trained, c.users, c.share),
        )
    for t in report.trend:
        yield "trend", {"day": t.day.isoformat(), "action": t.action, "count": t.count}
    for asked in report.requests:
        yield (
            "requests",
            {"category": asked.category, "state": asked.state}
            | _ratio(asked.count, asked.people, None),
        )


def _ratio(count: int | None, total: int, share: float | None) -> dict[str, object]:
    return {"count": count, "total": total, "share": _share(share)}


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def to_table(report: Report) -> list[str]:
    """The report as lines for a terminal: a heading, then one aligned table per section."""
    scope = report.scope
    where = "all departments" if scope.department is None else f"department {scope.department}"
    lines = [
        f"Leeway report, {when(scope.since)} to {when(scope.until)}, {where}",
        f"No person or host is named; groups of fewer than {scope.min_group} users"
        " are folded into 'other' or not shown.",
    ]
    role = f"Role model: managers (role {scope.manager_role!r}) next to the other staff"
    sections = (
        (
            "Decisions by category and action",
            _pivot([(d.category, d.action, d.count) for d in report.decisions], "category"),
        ),
        ("Warnings followed by Continue (distinct user, category and UTC day)", _continues(report)),
        ("Top reasons for blocks", _block_reasons(report)),
        ("Training coverage now, by department", _coverage(report.coverage, "department")),
        (role, _coverage(report.role_model, "group")),
        (
            "Decisions per day (UTC)",
            _pivot([(t.day.isoformat(), t.action, t.count) for t in report.trend], "day"),
        ),
        ("Access requests made, by category and state now", _requests(report)),
    )
    for title, body in sections:
        lines += ["", title, *(body or ["(none)"])]
    return lines


def _pivot(cells: Sequence[tuple[str, str, int]], name: str) -> list[str]:
    """Rows of (row key, column key, count) as a grid with a total column."""
    columns = list(dict.fromkeys(column for _, column, _ in cells))
    grid: dict[str, dict[str, int]] = {}
    for row, column, count in cells:
        grid.setdefault(row, {})[column] = count
    rows = [
        [key, *(str(values.get(c, 0)) for c in columns), str(sum(values.values()))]
        for key, values in grid.items()
    ]
    return aligned([[name, *columns, "total"], *rows], left=1) if rows else []


def _continues(report: Report) -> list[str]:
    rows = [
        [c.category, str(c.warned), str(c.continued), percent(c.share)]
        for c in report.continue_rate
        if c.warned
    ]
    return aligned([["category", "warned", "continued", "share"], *rows], left=1) if rows else []


def _block_reasons(report: Report) -> list[str]:
    rows = [[b.reason, b.rule or "-", str(b.count)] for b in report.block_reasons]
    return aligned([["reason", "rule", "count"], *rows], left=2) if rows else []


def _coverage(rows: Sequence[Coverage], group: str) -> list[str]:
    cells = [[c.module, c.group, _number(c.trained), str(c.users), percent(c.share)] for c in rows]
    hidden = any(c.trained is None for c in rows)
    note = ["('-': a group too small to show)"] if hidden else []
    return (
        [*aligned([["module", group, "trained", "users", "share"], *cells], left=2), *note]
        if cells
        else []
    )


def _requests(report: Report) -> list[str]:
    """category, a column per state, and the people who asked; '-' for a group too small."""
    states = list(dict.fromkeys(r.state for r in report.requests))
    grid: dict[str, dict[str, int | None]] = {}
    people: dict[str, int] = {}
    for r in report.requests:
        grid.setdefault(r.category, {})[r.state] = r.count
        people[r.category] = r.people
    rows = [[c, *(_number(grid[c][s]) for s in states), str(people[c])] for c in grid]
    hidden = any(r.count is None for r in report.requests)
    note = ["('-': a group too small to show)"] if hidden else []
    return [*aligned([["category", *states, "people"], *rows], left=1), *note] if rows else []


def _number(value: int | None) -> str:
    return "-" if value is None else str(value)
