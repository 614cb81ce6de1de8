"""The report's figures from real rows on SQLite and PostgreSQL, and the privacy folding."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypedDict

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from proxy.privacy import OTHER
from proxy.reports.build import (
    ACTIONS,
    Report,
    ReportRefused,
    Scope,
    build_report,
)
from tests.proxy.reports.report_support import DAY, NOW, Rows, report_policy

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

SECOND = timedelta(seconds=1)


class Fields(TypedDict, total=False):
    """Event columns that several rows share (typed, so none is taken for `requests`)."""

    kind: str
    action: str
    access: str
    rule: str


def report(engine: Engine, zone: str | None = None, **changes: Any) -> Report:
    """The report of the week before NOW, with `changes` to its scope; on PostgreSQL in
    session time zone `zone`."""
    scope = replace(Scope(since=NOW - 7 * DAY, until=NOW), **changes)
    with Session(engine) as session:
        if zone is not None and engine.dialect.name == "postgresql":
            session.execute(text(f"SET TIME ZONE '{zone}'"))
        return build_report(session, report_policy(), scope)


@pytest.fixture
def rows(engine: Engine) -> Rows:
    return Rows(engine)


def test_decisions_by_category_and_action_in_the_window(rows: Rows, engine: Engine) -> None:
    rows.events(NOW - DAY, 3)
    rows.events(NOW - DAY, 2, action="warn", rule="everyone")
    rows.events(NOW - 7 * DAY, category="video", action="block", rule=None)  # first moment in
    rows.events(NOW - 7 * DAY - SECOND)  # before the window
    rows.events(NOW)  # the window ends just before `until`
    rows.events(NOW - DAY, kind="acknowledgement", action="allow")  # not a decision
    rows.events(NOW - DAY, category="retired")  # a category the policy no longer names
    decisions = report(engine).decisions
    counted = [(d.category, d.action, d.count) for d in decisions if d.count]
    assert counted[:2] == [("retired", "allow", 1), ("social", "allow", 3)]
    assert counted[2:] == [("social", "warn", 2), ("video", "block", 1)]
    grid = [(d.category, d.action) for d in decisions]  # every category and action, in order
    assert grid == [(c, a) for c in ("retired", "social", "video") for a in ACTIONS]


def test_the_continue_rate_counts_users_per_category_and_day(rows: Rows, engine: Engine) -> None:
    warn: Fields = {"action": "warn", "rule": "everyone"}
    ack: Fields = {"kind": "acknowledgement", "action": "allow"}
    rows.events(NOW - 2 * DAY, 5, username="ann", **warn)  # a page and its images: one day
    rows.events(NOW - 2 * DAY + SECOND, username="ann", **ack)  # ... continued
    rows.events(NOW - 2 * DAY, username="bob", **warn)
    rows.events(NOW - 1 * DAY, username="bob", **warn)  # two warned days, no Continue
    rows.events(NOW - 3 * DAY, username="cat", **ack)  # warned before midnight: still one day
    rows.events(NOW - 1 * DAY, 4, username=None, **warn)  # unidentified: left out
    rows.events(NOW - 9 * DAY, username="dan", **ack)  # outside the window
    rates = {c.category: (c.warned, c.continued, c.share) for c in report(engine).continue_rate}
    assert rates == {"social": (4, 2, 0.5), "video": (0, 0, None)}


def test_block_reasons_most_frequent_first(rows: Rows, engine: Engine) -> None:
    block: Fields = {"action": "block", "access": "write"}
    rows.events(NOW - DAY, 3, reason="no_matching_rule", rule=None, **block)
    rows.events(NOW - DAY, 3, rule="publishers", **block)
    rows.events(NOW - DAY, 5, rule="everyone", **block)
    rows.events(NOW - DAY, 9, action="warn", rule="everyone")  # not a block
    rows.events(NOW - 8 * DAY, 9, reason="invalid", **block)  # outside the window
    reasons = [(b.reason, b.rule, b.count) for b in report(engine).block_reasons]
    assert reasons == [
        ("rule_matched", "everyone", 5),
        ("no_matching_rule", None, 3),  # ties: by reason, then rule
        ("rule_matched", "publishers", 3),
    ]


def test_an_event_counts_the_identical_decisions_it_stands_for(rows: Rows, engine: Engine) -> None:
    rows.events(NOW - DAY, requests=40)  # a page load and its images within one flush
    rows.events(NOW - DAY, 2, action="block", access="write", rule="everyone", requests=3)
    made = report(engine)
    counted = [(d.category, d.action, d.count) for d in made.decisions if d.count]
    assert counted == [("social", "allow", 40), ("social", "block", 6)]
    assert [(b.rule, b.count) for b in made.block_reasons] == [("everyone", 6)]
    assert {(t.action, t.count) for t in made.trend if t.count} == {("allow", 40), ("block", 6)}


def test_only_the_ten_most_frequent_block_reasons(rows: Rows, engine: Engine) -> None:
    for n in range(12):
        rows.events(NOW - DAY, 1 + (n == 11), action="block", rule=f"r{n:02}")
    rules = [b.rule for b in report(engine).block_reasons]
    assert rules == ["r11", *(f"r{n:02}" for n in range(9))]


def test_coverage_counts_valid_training_now(rows: Rows, engine: Engine) -> None:
    rows.staff("finance", "f", 5)
    rows.staff("legal", "l", 5)
    rows.completion("f0", "basics", NOW - 10 * DAY)
    rows.completion("f1", "basics", NOW - 365 * DAY)  # runs out now: expired
    rows.completion("f2", "basics", NOW - 400 * DAY)
    rows.completion("f2", "basics", NOW - 100 * DAY)  # renewed: the latest counts, once
    rows.completion("f3", "basics", NOW + DAY)  # not yet
    rows.completion("f4", "basics", NOW - 364 * DAY)
    rows.completion("f4", "induction", NOW - 1000 * DAY)  # no validity: for ever
    rows.completion("l0", "other-module", NOW - DAY)  # not in the policy
    coverage = [(c.module, c.group, c.users, c.trained, c.share) for c in report(engine).coverage]
    assert coverage == [
        ("basics", "finance", 5, 3, 0.6),
        ("basics", "legal", 5, 0, 0.0),
        ("induction", "finance", 5, 1, 0.2),
        ("induction", "legal", 5, 0, 0.0),
    ]


def test_deactivated_users_are_not_counted(rows: Rows, engine: Engine) -> None:
    rows.staff("finance", "f", 6)
    for name in ("f0", "f1"):
        rows.completion(name, "basics", NOW - DAY)
    rows.deactivate("f0", NOW - DAY)  # no longer in the directory
    basics = [(c.group, c.users, c.trained) for c in report(engine).coverage][:1]
    assert basics == [("finance", 5, 1)]


def test_departments_under_k_users_fold_into_other(rows: Rows, engine: Engine) -> None:
    for department, prefix, size in (("finance", "f", 5), ("legal", "l", 4), ("it", "i", 1)):
        rows.staff(department, prefix, size)
    rows.staff(None, "n", 1)
    for name in ("f0", "l0", "i0"):
        rows.completion(name, "basics", NOW - DAY)
    basics = [
        (c.group, c.users, c.trained) for c in report(engine).coverage if c.module == "basics"
    ]
    assert basics == [("finance", 5, 1), (OTHER, 6, 2)]
    # k=4: legal stands alone, but `other` would hold 2 users: legal, the smaller, folds too.
    k4 = [(c.group, c.users) for c in report(engine, min_group=4).coverage]
    assert k4[:2] == [("finance", 5), (OTHER, 6)]
    k2 = [(c.group, c.users) for c in report(engine, min_group=2).coverage]
    assert k2[:3] == [("finance", 5), ("legal", 4), (OTHER, 2)]
    k6 = [(c.group, c.users, c.trained) for c in report(engine, min_group=6).coverage]
    assert k6[:1] == [(OTHER, 11, 3)]


def test_an_office_under_k_users_shows_sizes_only(rows: Rows, engine: Engine) -> None:
    rows.staff("finance", "f", 3)
    rows.completion("f0", "basics", NOW - DAY)
    coverage = [(c.group, c.users, c.trained, c.share) for c in report(engine).coverage]
    assert coverage == [(OTHER, 3, None, None), (OTHER, 3, None, None)]


def _managers_and_staff(rows: Rows, managers: int) -> None:
    """`managers` managers in finance (m0 with two grants), and ten other staff: six in
    finance with no role; in legal, one each whose manager grant ended, was revoked, starts
    tomorrow, or who holds another role. m0, m1, s0 and `ended` hold valid basics."""
    for name in rows.staff("finance", "m", managers):
        rows.grant(name, "manager", NOW - 100 * DAY, ends=NOW + DAY)
    rows.grant("m0", "manager", NOW - 10 * DAY)
    rows.staff("finance", "s", 6)
    rows.users("legal", "ended", "revoked", "future", "comms")
    rows.grant("ended", "manager", NOW - 100 * DAY, ends=NOW)
    rows.grant("revoked", "manager", NOW - 100 * DAY, revoked=NOW - DAY)
    rows.grant("future", "manager", NOW + DAY)
    rows.grant("comms", "comms-publisher", NOW - DAY)
    for name in ("m0", "m1", "s0", "ended"):
        rows.completion(name, "basics", NOW - DAY)


def test_the_role_model_compares_managers_with_other_staff(rows: Rows, engine: Engine) -> None:
    _managers_and_staff(rows, managers=5)
    rows.completion("m2", "basics", NOW - DAY)
    rows.completion("m3", "basics", NOW - 400 * DAY)  # expired
    shares = [(c.module, c.group, c.users, c.trained, c.share) for c in report(engine).role_model]
    assert shares == [
        ("basics", "managers", 5, 3, 0.6),
        ("basics", "staff", 10, 2, 0.2),
        ("induction", "managers", 5, 0, 0.0),
        ("induction", "staff", 10, 0, 0.0),
    ]
    leads = report(engine, manager_role="comms-publisher").role_model
    assert [(c.group, c.users, c.trained) for c in leads[:2]] == [
        ("managers", 1, None),  # one person: neither group is shown
        ("staff", 14, None),
    ]


def test_no_managers_leaves_the_staff_share(rows: Rows, engine: Engine) -> None:
    _managers_and_staff(rows, managers=5)
    basics = report(engine, manager_role="director").role_model[:2]
    assert [(c.group, c.users, c.trained, c.share) for c in basics] == [
        ("managers", 0, 0, None),
        ("staff", 15, 4, 4 / 15),
    ]


def test_the_trend_counts_decisions_per_utc_day(rows: Rows, engine: Engine) -> None:
    midnight = datetime(2026, 6, 14, tzinfo=UTC)
    rows.events(midnight - SECOND)
    rows.events(midnight, 2)
    rows.events(midnight + 12 * 3600 * SECOND, action="block")
    rows.events(midnight, kind="acknowledgement", action="allow")  # not a decision
    trend = report(
        engine, "Pacific/Auckland", since=NOW - 3 * DAY
    ).trend  # UTC days, whatever the zone
    counts = {(t.day, t.action): t.count for t in trend if t.count}
    assert counts == {
        (date(2026, 6, 13), "allow"): 1,
        (date(2026, 6, 14), "allow"): 2,
        (date(2026, 6, 14), "block"): 1,
    }
    days = list(dict.fromkeys(t.day for t in trend))
    assert days == [date(2026, 6, n) for n in (12, 13, 14, 15)]
    assert [t.action for t in trend[:3]] == ["allow", "warn", "block"]


def test_one_department_restricts_every_section(rows: Rows, engine: Engine) -> None:
    _managers_and_staff(rows, managers=5)  # finance: 5 managers and 6 staff; legal: 4
    rows.events(NOW - DAY, 2)
    rows.events(NOW - DAY, 4, department="legal")
    rows.events(NOW - DAY, department="legal", action="block")
    finance = report(engine, department="finance")
    assert [(d.category, d.count) for d in finance.decisions if d.count] == [("social", 2)]
    assert finance.block_reasons == ()
    assert sum(t.count for t in finance.trend) == 2
    assert [(c.group, c.users) for c in finance.coverage[:1]] == [("finance", 11)]
    assert [(c.group, c.users) for c in finance.role_model[:2]] == [
        ("managers", 5),
        ("staff", 6),
    ]


def test_a_department_that_would_single_people_out_is_refused(rows: Rows, engine: Engine) -> None:
    rows.staff("finance", "f", 5)
    rows.staff("it", "i", 4)
    with pytest.raises(ReportRefused, match="'it' has fewer than 5 users"):
        report(engine, department="it")
    with pytest.raises(ReportRefused, match=r"unknown department 'nope' \(.*: finance\)"):
        report(engine, department="nope")
    assert report(engine, department="it", min_group=4).coverage[0].users == 4
