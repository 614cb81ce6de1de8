"""`leeway report`: the table, CSV and JSON contracts, privacy and exit codes."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from proxy.reports.format import FORMATS
from proxy.store.access_requests import approve, ask, deny
from proxy.store.db import session_factory
from tests.proxy.reports.report_support import POLICY, Rows

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from tests.proxy.cli_support import Leeway

CSV_HEADER = (
    "section,category,action,reason,rule,module,department,group,day,count,total,share,state"
)
JSON_KEYS = [
    *("since", "until", "department", "min_group", "manager_role"),
    *("decisions", "continue_rate", "block_reasons", "coverage", "role_model", "trend"),
    "requests",
]
ITEM_KEYS = {
    "decisions": ["category", "action", "count"],
    "continue_rate": ["category", "warned", "continued", "share"],
    "block_reasons": ["reason", "rule", "count"],
    "coverage": ["module", "department", "users", "trained", "share"],
    "role_model": ["module", "group", "users", "trained", "share"],
    "trend": ["day", "action", "count"],
    "requests": ["category", "state", "count", "people"],
}
SECRETS = ("alice-secret", "secret.facebook.com")


@pytest.fixture
def office(leeway: Leeway, engine: Engine) -> Leeway:
    """finance and legal, five people each (f0 a manager with basics), tiny with two and it
    with three (together `other`); an
    hour ago: 3 allows (alice-secret, finance), 2 warns and a Continue (f1, finance),
    a block (legal), and 4 days ago an allow (finance). Access requests: social by f0-f4
    (f0's approved, f1's denied) and t0, rich-media by l0-l4."""
    rows = Rows(engine)
    rows.staff("finance", "f", 5)
    rows.staff("legal", "l", 5)
    rows.staff("tiny", "t", 2)
    rows.staff("it", "i", 3)
    now = datetime.now(UTC)
    rows.grant("f0", "manager", now - timedelta(days=10))
    rows.completion("f0", "social-media-basics", now - timedelta(days=1))
    recent = now - timedelta(hours=1)
    rows.events(recent, 3, username="alice-secret", host="secret.facebook.com")
    rows.events(recent, 2, username="f1", action="warn", rule="social-everyone")
    rows.events(recent, username="f1", kind="acknowledgement", action="allow")
    rows.events(recent, username="l0", department="legal", action="block", access="write")
    rows.events(now - timedelta(days=4))
    with session_factory(engine).begin() as session:
        asked = {
            name: ask(
                session, username=name, category=category, role="r", justification="j", now=recent
            ).request.id
            for category, names in (("social", ["f0", "f1", "f2", "f3", "f4", "t0"]),
                                    ("rich-media", ["l0", "l1", "l2", "l3", "l4"]))
            for name in names
        }  # fmt: skip
        approve(session, asked["f0"], operator="hr", now=recent)
        deny(session, asked["f1"], operator="hr", reason="no", now=recent)
    return leeway


def _json(leeway: Leeway, *args: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(leeway.ok("report", "--format", "json", *args))
    return document


def _count(document: dict[str, Any], category: str, action: str) -> int:
    (found,) = (
        d["count"]
        for d in document["decisions"]
        if d["category"] == category and d["action"] == action
    )
    return int(found)


def test_csv_has_the_documented_header_and_sections(office: Leeway) -> None:
    out = office.ok("report", "--format", "csv")
    assert out.splitlines()[0] == CSV_HEADER
    assert CSV_HEADER in FORMATS
    rows = list(csv.DictReader(io.StringIO(out)))
    sections = list(dict.fromkeys(row["section"] for row in rows))
    assert sections == list(ITEM_KEYS)  # the JSON sections, in the same order
    by = {(r["section"], r["category"], r["action"]): r for r in rows if r["category"]}
    assert by["decisions", "social", "allow"]["count"] == "4"
    assert by["decisions", "social", "block"]["count"] == "1"
    continued = by["continue_rate", "social", ""]
    assert (continued["count"], continued["total"], continued["share"]) == ("1", "1", "1.0")
    coverage = [
        r for r in rows if r["section"] == "coverage" and r["module"] == "social-media-basics"
    ]
    assert [(r["department"], r["count"], r["total"], r["share"]) for r in coverage] == [
        ("finance", "1", "5", "0.2"),
        ("legal", "0", "5", "0.0"),
        ("other", "0", "5", "0.0"),  # tiny and it, too small on their own
    ]
    (block,) = (r for r in rows if r["section"] == "block_reasons")
    assert (block["reason"], block["rule"], block["count"]) == ("rule_matched", "trained", "1")


def test_json_has_the_documented_keys(office: Leeway) -> None:
    document = _json(office)
    assert list(document) == JSON_KEYS
    assert (document["department"], document["min_group"], document["manager_role"]) == (
        None,
        5,
        "manager",
    )
    for section, keys in ITEM_KEYS.items():
        assert document[section], section
        assert all(list(item) == keys for item in document[section]), section
        assert f"[{{{', '.join(keys)}}}]" in FORMATS
    since = datetime.fromisoformat(document["since"])
    assert datetime.fromisoformat(document["until"]) - since == timedelta(days=7)
    assert _count(document, "social", "allow") == 4
    assert _count(_json(office, "--since", "1d"), "social", "allow") == 3


def test_the_table_has_aligned_sections(office: Leeway) -> None:
    lines = office.ok("report").splitlines()
    assert lines[0].startswith("Leeway report, ")
    assert lines[0].endswith(", all departments")
    headings = [
        "Decisions by category and action",
        "Warnings followed by Continue (distinct user, category and UTC day)",
        "Top reasons for blocks",
        "Training coverage now, by department",
        "Role model: managers (role 'manager') next to the other staff",
        "Decisions per day (UTC)",
        "Access requests made, by category and state now",
    ]
    assert [line for line in lines if line in headings] == headings
    start = lines.index(headings[0]) + 1
    grid = lines[start : lines.index("", start)]
    assert grid[0].split() == ["category", "allow", "warn", "block", "total"]
    assert grid[1:] == [
        "rich-media      0     0      0      0",
        "social          4     2      1      7",
    ]
    start = lines.index(headings[-1]) + 1
    assert lines[start:] == [
        "category    pending  approved  denied  people",
        "rich-media        5         0       0       5",
        "social            4         1       1       6",
    ]


def test_requests_in_csv_and_json(office: Leeway) -> None:
    rows = list(csv.DictReader(io.StringIO(office.ok("report", "--format", "csv"))))
    asked = [
        (r["category"], r["state"], r["count"], r["total"], r["share"])
        for r in rows
        if r["section"] == "requests"
    ]
    assert asked[:3] == [
        ("rich-media", "pending", "5", "5", ""),
        ("rich-media", "approved", "0", "5", ""),
        ("rich-media", "denied", "0", "5", ""),
    ]
    assert asked[3:] == [
        ("social", "pending", "4", "6", ""),
        ("social", "approved", "1", "6", ""),
        ("social", "denied", "1", "6", ""),
    ]
    finance = _json(office, "--department", "finance")["requests"]
    assert finance[:2] == [
        {"category": "social", "state": "pending", "count": 3, "people": 5},
        {"category": "social", "state": "approved", "count": 1, "people": 5},
    ]


def test_requests_of_too_few_people_show_no_figures(office: Leeway) -> None:
    args = ("--department", "tiny", "--min-group", "2")
    assert _json(office, *args)["requests"] == [
        {"category": "other", "state": state, "count": None, "people": 1}
        for state in ("pending", "approved", "denied")
    ]
    lines = office.ok("report", *args).splitlines()
    assert lines[-3:] == [
        "category  pending  approved  denied  people",
        "other           -         -       -       1",
        "('-': a group too small to show)",
    ]


@pytest.mark.parametrize("form", ["table", "csv", "json"])
def test_no_username_or_host_is_printed(office: Leeway, form: str) -> None:
    out = office.ok("report", "--format", form)
    assert not [secret for secret in SECRETS if secret in out]


def test_one_department(office: Leeway) -> None:
    document = _json(office, "--department", "legal")
    assert document["department"] == "legal"
    assert [(d["category"], d["action"]) for d in document["decisions"] if d["count"]] == [
        ("social", "block")
    ]
    assert {row["department"] for row in document["coverage"]} == {"legal"}
    assert _json(office, "--department", "tiny", "--min-group", "2")["coverage"][0]["users"] == 2


def test_a_policy_file_names_the_modules(office: Leeway) -> None:
    policy = office.csv("report.toml", POLICY)
    document = _json(office, "--policy", policy, "--manager-role", "lead")
    assert {row["module"] for row in document["coverage"]} == {"basics", "induction"}
    assert document["manager_role"] == "lead"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        pytest.param(["--since", "soon"], 2, "bad duration 'soon'", id="bad since"),
        pytest.param(["--since", "0d"], 2, "expected more than zero", id="empty window"),
        pytest.param(["--since", "999999w"], 2, "at most 3660d", id="too long"),
        pytest.param(["--format", "xml"], 2, "invalid choice: 'xml'", id="bad format"),
        pytest.param(["--min-group", "0"], 2, "'0' is not a whole number", id="bad k"),
        pytest.param(
            ["--department", "nope"],
            1,
            "unknown department 'nope' (departments of at least 5 users: finance, legal)",
            id="unknown department",
        ),
        pytest.param(
            ["--department", "tiny"], 1, "'tiny' has fewer than 5 users", id="small department"
        ),
    ],
)
def test_refusals(office: Leeway, args: list[str], code: int, message: str) -> None:
    result = office("report", *args)
    assert (result.code, result.out) == (code, "")
    assert message in result.err
