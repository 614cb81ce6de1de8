"""Tests for policy.standing: where a person stands, from the engine and remedy_for only."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from policy import Access, Acknowledgement, Action, Grant, Policy, Reason, Request, Subject
from policy.remedy import remedy_for
from policy.standing import CourseState, Standing, standing, summary
from tests.policy.samples import NOW


def social(of: Standing) -> tuple[Action, Action]:
    found = next(c for c in of.categories if c.category.name == "social")
    return found.read.action, found.write.action


def trained(days_ago: int = 30) -> Subject:
    return Subject("tess", known=True, completions={"basics": (NOW - timedelta(days=days_ago),)})


PUBLISHER = Subject(
    "paul",
    known=True,
    completions={"basics": (NOW,), "publishing": (NOW,)},
    grants=(Grant("comms-publisher", NOW - timedelta(days=1)),),
)


@pytest.mark.parametrize(
    ("subject", "read", "write"),
    [
        pytest.param(Subject.anonymous(), Action.WARN, Action.BLOCK, id="untrained -> warn, block"),
        pytest.param(trained(), Action.ALLOW, Action.WARN, id="trained -> allow, warn"),
        pytest.param(PUBLISHER, Action.ALLOW, Action.ALLOW, id="publisher -> allow, allow"),
        pytest.param(
            Subject.anonymous("x", degraded=True), Action.WARN, Action.BLOCK, id="degraded"
        ),
    ],
)
def test_each_category_is_what_the_engine_decides(
    policy: Policy, subject: Subject, read: Action, write: Action
) -> None:
    got = standing(policy, subject, NOW)
    assert social(got) == (read, write)
    for each in got.categories:
        host = each.category.domains[0]
        for access, method in ((each.read, "GET"), (each.write, "POST")):
            assert access.decision == policy.decide(subject, Request.to(host, method), NOW)


def test_a_block_carries_the_remedy_and_an_allow_none(policy: Policy) -> None:
    got = standing(policy, Subject.anonymous(), NOW)
    news = next(c for c in got.categories if c.category.name == "news")
    assert news.read.action is Action.BLOCK and news.rules == ()
    blocked = next(c for c in got.categories if c.category.name == "social").write
    assert blocked.remedy == remedy_for(policy, blocked.decision)
    assert [m.key for m in blocked.remedy.modules] == ["basics"]
    reader = next(
        c for c in standing(policy, trained(), NOW).categories if c.category.name == "social"
    )
    assert reader.read.remedy is None
    assert reader.read.reasons == reader.read.decision.explanation[1:]
    assert "Rule 'trained' applies: read is allow." in reader.read.reasons


def test_an_acknowledged_warning_names_what_would_lift_the_warning_itself(policy: Policy) -> None:
    ack = Acknowledgement("social", NOW - timedelta(hours=1), NOW + timedelta(hours=7))
    got = standing(policy, Subject("ann", known=True, acknowledgements=(ack,)), NOW)
    read = next(c for c in got.categories if c.category.name == "social").read
    assert (read.action, read.decision.reason) == (Action.ALLOW, Reason.ACKNOWLEDGED)
    assert read.remedy is not None and [m.key for m in read.remedy.modules] == ["basics"]
    assert got.acknowledgements == (ack,)
    assert summary(Access.READ, read, "social") == (
        "You may read social sites until 2026-11-25 19:00 UTC: you read the notice."
    )


def test_ended_acknowledgements_and_grants_are_left_out(policy: Policy) -> None:
    old = Acknowledgement("social", NOW - timedelta(hours=9), NOW - timedelta(hours=1))
    ended = Grant("comms-publisher", NOW - timedelta(days=9), NOW - timedelta(days=1))
    held = Grant("comms-publisher", NOW - timedelta(days=1))
    got = standing(policy, Subject("ann", True, acknowledgements=(old,), grants=(ended, held)), NOW)
    assert (got.acknowledgements, got.grants) == ((), (held,))


@pytest.mark.parametrize(
    ("days_ago", "state"),
    [
        pytest.param(30, CourseState.VALID, id="a month ago -> valid"),
        pytest.param(360, CourseState.RENEWAL_DUE, id="360 days ago -> renewal due"),
        pytest.param(400, CourseState.EXPIRED, id="400 days ago -> expired"),
    ],
)
def test_courses_carry_completion_expiry_and_the_renewal_notice(
    policy: Policy, days_ago: int, state: CourseState
) -> None:
    courses = {c.module.key: c for c in standing(policy, trained(days_ago), NOW).courses}
    basics = courses["basics"]
    completed = NOW - timedelta(days=days_ago)
    assert basics.state is state
    assert (basics.completed_at, basics.expires_at) == (completed, completed + timedelta(days=365))
    assert basics.renewal_from == completed + timedelta(days=365 - 14)
    assert courses["publishing"].state is CourseState.NOT_COMPLETED


def test_a_course_that_never_expires_has_no_expiry(policy: Policy) -> None:
    subject = Subject("vic", True, completions={"video": (NOW - timedelta(days=900),)})
    video = next(c for c in standing(policy, subject, NOW).courses if c.module.key == "video")
    assert (video.state, video.expires_at, video.renewal_from) == (CourseState.VALID, None, None)


def test_the_rules_say_what_the_policy_asks_of_everyone(policy: Policy) -> None:
    social_rules = next(c for c in standing(policy, Subject.anonymous(), NOW).categories).rules
    assert [r.name for r in social_rules] == ["publishers", "trained", "everyone"]


ANYONE = Subject.anonymous()
UNREADABLE = Subject.anonymous("x", degraded=True)


@pytest.mark.parametrize(
    ("subject", "access", "words"),
    [
        pytest.param(
            trained(),
            Access.READ,
            "You may read social sites, after a notice on the first page you open.",
            id="allow with a notice",
        ),
        pytest.param(
            ANYONE,
            Access.READ,
            "You may read social sites after reading a notice and choosing Continue.",
            id="warn",
        ),
        pytest.param(
            ANYONE, Access.WRITE, "You may not post to social sites: it is blocked.", id="block"
        ),
        pytest.param(
            trained(360),
            Access.READ,
            "You may read social sites, after a reminder to renew your training.",
            id="renewal",
        ),
        pytest.param(
            UNREADABLE,
            Access.READ,
            "Your records can't be read just now: you are treated as untrained (read).",
            id="store unavailable",
        ),
    ],
)
def test_summary_in_plain_words(
    policy: Policy, subject: Subject, access: Access, words: str
) -> None:
    social_now = next(c for c in standing(policy, subject, NOW).categories)
    what = social_now.read if access is Access.READ else social_now.write
    assert summary(access, what, "social") == words


def test_a_publisher_reads_without_any_notice(policy: Policy) -> None:
    read = next(c for c in standing(policy, PUBLISHER, NOW).categories).read
    assert summary(Access.READ, read, "social") == "You may read social sites."


def test_now_is_a_parameter(policy: Policy) -> None:
    later: datetime = NOW + timedelta(days=400)
    assert social(standing(policy, trained(), later)) == (Action.WARN, Action.BLOCK)
