"""Tests for policy.remedy: what would lift a warning or a block, in plain words."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from policy import Action, Decision, Grant, Policy, Reason, Request, Subject, parse_policy
from policy.remedy import Remedy, remedy_for
from tests.policy.samples import NOW

BASICS_DONE: dict[str, tuple[datetime, ...]] = {"basics": (NOW - timedelta(days=30),)}


def decide(policy: Policy, subject: Subject, host: str, method: str = "GET") -> Decision:
    return policy.decide(subject, Request.to(host, method), NOW)


def keys(remedy: Remedy) -> tuple[str, ...]:
    return tuple(module.key for module in remedy.modules)


def test_warned_reader_is_pointed_at_the_nearest_better_rule(policy: Policy) -> None:
    # "trained" (one course short) is nearer than "publishers" (two courses and a role).
    remedy = remedy_for(policy, decide(policy, Subject.anonymous(), "facebook.com"))
    assert keys(remedy) == ("basics",)
    assert remedy.roles == ()
    assert remedy.reason == "You have not completed Social media basics yet."


def test_blocked_writer_is_pointed_at_the_nearest_rule_that_does_better(policy: Policy) -> None:
    decision = decide(policy, Subject.anonymous(), "facebook.com", "POST")
    assert decision.action == "block"
    remedy = remedy_for(policy, decision)
    assert keys(remedy) == ("basics",)  # "trained" warns on write: better than a block


def test_a_rule_needing_a_course_and_a_role_names_both(policy: Policy) -> None:
    trained = Subject("tess", known=True, completions=BASICS_DONE)
    decision = decide(policy, trained, "facebook.com", "POST")
    assert (decision.action, decision.rule) == ("warn", "trained")
    remedy = remedy_for(policy, decision)
    assert keys(remedy) == ("publishing",)
    assert remedy.roles == ("comms-publisher",)
    assert remedy.reason == (
        "You have not completed Publishing for the organisation yet."
        " This needs the comms-publisher role."
    )


def test_an_expired_course_is_named_with_its_date(policy: Policy) -> None:
    lapsed = Subject("lee", known=True, completions={"basics": (NOW - timedelta(days=400),)})
    remedy = remedy_for(policy, decide(policy, lapsed, "facebook.com"))
    assert keys(remedy) == ("basics",)
    expired_on = (NOW - timedelta(days=35)).date().isoformat()
    assert remedy.reason == f"Your Social media basics training expired on {expired_on}."


def test_a_role_alone_is_the_remedy_when_no_course_is_missing(policy: Policy) -> None:
    # rich-media: "video-trained" needs a course, "managers" only a role; both are one away.
    decision = decide(policy, Subject.anonymous(), "youtube.com")
    remedy = remedy_for(policy, decision)
    assert keys(remedy) == ("video",)  # the earlier rule wins the tie
    manager = Subject("max", grants=(Grant("manager", NOW - timedelta(days=1)),))
    write = decide(policy, manager, "youtube.com", "POST")
    assert (write.action, write.rule) == ("block", "managers")
    assert keys(remedy_for(policy, write)) == ("video",)


def test_renewal_wording_names_the_course_and_its_last_day(policy: Policy) -> None:
    expiring = Subject("eve", known=True, completions={"basics": (NOW - timedelta(days=360),)})
    decision = decide(policy, expiring, "facebook.com")
    assert decision.reason is Reason.TRAINING_EXPIRING
    remedy = remedy_for(policy, decision)
    assert keys(remedy) == ("basics",)
    last_day = (NOW + timedelta(days=5)).date().isoformat()
    assert remedy.reason == f"Your Social media basics training runs out on {last_day}."


def test_store_unavailable_wording(policy: Policy) -> None:
    decision = decide(policy, Subject.anonymous(), "facebook.com")._replace(
        reason=Reason.STORE_UNAVAILABLE
    )
    remedy = remedy_for(policy, decision)
    assert remedy == Remedy(
        "Your training records could not be checked just now. Try again shortly."
    )


def test_reminder_wording_for_an_allowed_read_with_an_interstitial(policy: Policy) -> None:
    decision = decide(policy, Subject("tess", known=True, completions=BASICS_DONE), "x.com")
    assert (decision.action, decision.interstitial) == ("allow", True)
    remedy = remedy_for(policy, decision)
    assert remedy.reason.startswith("You can read social sites. Before you post anything")
    assert remedy.modules == ()


@pytest.mark.parametrize(
    ("method", "wording"),
    [("GET", "using"), ("POST", "posting to")],
)
def test_no_better_rule(policy: Policy, method: str, wording: str) -> None:
    decision = decide(policy, Subject.anonymous(), "news.example", method)
    assert decision.reason is Reason.NO_MATCHING_RULE
    assert remedy_for(policy, decision) == Remedy(
        f"The policy does not allow {wording} news sites."
    )


STRICT_POLICY = """
[modules.basics]
title = "Basics"
url = "https://learning.example.org/basics"

[categories.social]
domains = ["facebook.com"]

[[rules]]
name = "trained-but-still-blocked"
categories = ["social"]
training_all = ["basics"]
read = "block"
"""


def test_a_skipped_rule_that_would_do_no_better_is_no_remedy() -> None:
    strict = parse_policy(STRICT_POLICY.encode(), source="test", label="strict.toml")
    decision = decide(strict, Subject.anonymous(), "facebook.com")
    assert decision.reason is Reason.NO_MATCHING_RULE
    assert len(decision.evidence) == 1  # the rule was skipped for the missing course
    remedy = remedy_for(strict, decision)
    assert remedy == Remedy("The policy does not allow using social sites.")


def test_a_warning_with_no_better_rule_asks_to_read_the_guidance() -> None:
    warn_only = STRICT_POLICY + (
        '\n[[rules]]\nname = "everyone"\ncategories = ["social"]\nread = "warn"\n'
    )
    policy = parse_policy(warn_only.encode(), source="test", label="warn.toml")
    decision = decide(policy, Subject.anonymous(), "facebook.com")
    assert (decision.action, decision.rule) == (Action.WARN, "everyone")
    remedy = remedy_for(policy, decision)
    assert remedy == Remedy("Read the guidance below before using social sites.")
