"""Tests for addons.anonymous: the Continues of unidentified clients, kept in memory."""

from __future__ import annotations

from datetime import timedelta

from addons.anonymous import MAX_ANONYMOUS, AnonymousAcknowledgements
from policy.subject import Acknowledgement
from tests.policy.samples import NOW

TTL = timedelta(hours=8)


def ack(category: str = "social", at: timedelta = timedelta()) -> Acknowledgement:
    return Acknowledgement(category, NOW + at, NOW + at + TTL)


def test_continues_are_kept_by_principal() -> None:
    store = AnonymousAcknowledgements()
    store.remember("addr:10.0.0.5", ack(), NOW)
    assert store.of("addr:10.0.0.5") == (ack(),)
    assert store.of("addr:10.0.0.6") == ()
    assert len(store) == 1


def test_an_address_whose_continues_expired_is_dropped_when_another_clicks() -> None:
    store = AnonymousAcknowledgements()
    store.remember("addr:10.0.0.5", ack(), NOW)
    later = NOW + TTL + timedelta(minutes=1)
    store.remember("addr:10.0.0.6", ack(at=TTL + timedelta(minutes=1)), later)
    assert list(store) == ["addr:10.0.0.6"]


def test_an_address_with_a_live_continue_is_kept() -> None:
    store = AnonymousAcknowledgements()
    store.remember("addr:10.0.0.5", ack(), NOW)
    store.remember("addr:10.0.0.6", ack(at=timedelta(hours=1)), NOW + timedelta(hours=1))
    assert list(store) == ["addr:10.0.0.5", "addr:10.0.0.6"]


def test_clicking_continue_again_keeps_one_acknowledgement_per_category() -> None:
    store = AnonymousAcknowledgements()
    for minute in range(1000):
        at = timedelta(minutes=minute)
        store.remember("addr:10.0.0.5", ack(at=at), NOW + at)
    store.remember("addr:10.0.0.5", ack("rich-media"), NOW + timedelta(minutes=999))
    kept = store.of("addr:10.0.0.5")
    assert [(a.category, a.acknowledged_at) for a in kept] == [
        ("social", NOW + timedelta(minutes=999)),
        ("rich-media", NOW),
    ]


def test_distinct_addresses_stay_bounded_and_the_latest_are_kept() -> None:
    store = AnonymousAcknowledgements()
    for n in range(100_000):
        store.remember(f"addr:10.{n >> 16}.{(n >> 8) & 255}.{n & 255}", ack(), NOW)
    assert len(store) == MAX_ANONYMOUS
    assert "addr:10.1.134.159" in store  # the 100,000th
    assert "addr:10.0.0.0" not in store
