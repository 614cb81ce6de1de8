"""Tests for addons.context: the Continues of unidentified clients, kept in memory."""

from __future__ import annotations

from datetime import timedelta

from addons.context import MAX_ANONYMOUS
from policy.subject import Acknowledgement
from tests.addons.fakes import make_leeway
from tests.policy.samples import NOW

TTL = timedelta(hours=8)


def ack(category: str = "social", at: timedelta = timedelta()) -> Acknowledgement:
    return Acknowledgement(category, NOW + at, NOW + at + TTL)


def test_an_address_whose_continues_expired_is_dropped_when_another_clicks() -> None:
    leeway = make_leeway()
    leeway.remember_anonymous("addr:10.0.0.5", ack(), NOW)
    later = NOW + TTL + timedelta(minutes=1)
    leeway.remember_anonymous("addr:10.0.0.6", ack(at=TTL + timedelta(minutes=1)), later)
    assert list(leeway.anonymous_acks) == ["addr:10.0.0.6"]


def test_an_address_with_a_live_continue_is_kept() -> None:
    leeway = make_leeway()
    leeway.remember_anonymous("addr:10.0.0.5", ack(), NOW)
    leeway.remember_anonymous("addr:10.0.0.6", ack(at=timedelta(hours=1)), NOW + timedelta(hours=1))
    assert list(leeway.anonymous_acks) == ["addr:10.0.0.5", "addr:10.0.0.6"]


def test_clicking_continue_again_keeps_one_acknowledgement_per_category() -> None:
    leeway = make_leeway()
    for minute in range(1000):
        at = timedelta(minutes=minute)
        leeway.remember_anonymous("addr:10.0.0.5", ack(at=at), NOW + at)
    leeway.remember_anonymous("addr:10.0.0.5", ack("rich-media"), NOW + timedelta(minutes=999))
    kept = leeway.anonymous_acks["addr:10.0.0.5"]
    assert [(a.category, a.acknowledged_at) for a in kept] == [
        ("social", NOW + timedelta(minutes=999)),
        ("rich-media", NOW),
    ]


def test_distinct_addresses_stay_bounded_and_the_latest_are_kept() -> None:
    leeway = make_leeway()
    for n in range(100_000):
        leeway.remember_anonymous(f"addr:10.{n >> 16}.{(n >> 8) & 255}.{n & 255}", ack(), NOW)
    assert len(leeway.anonymous_acks) == MAX_ANONYMOUS
    assert "addr:10.1.134.159" in leeway.anonymous_acks  # the 100,000th
    assert "addr:10.0.0.0" not in leeway.anonymous_acks
