"""Tests for addons.anonymous: the Continues of unidentified clients, in memory by address."""

from __future__ import annotations

from datetime import timedelta

from addons.anonymous import AnonymousAcknowledgements
from policy.subject import Acknowledgement
from tests.policy.samples import NOW

HOUR = timedelta(hours=1)


def test_continues_are_kept_by_principal() -> None:
    store = AnonymousAcknowledgements()
    ack = Acknowledgement("social", NOW, NOW + HOUR)
    store.remember("addr:10.0.0.5", ack, NOW)
    assert store.of("addr:10.0.0.5") == (ack,)
    assert store.of("addr:10.0.0.6") == ()
    assert len(store) == 1


def test_remembering_drops_the_principals_expired_continues() -> None:
    store = AnonymousAcknowledgements()
    old = Acknowledgement("social", NOW - 2 * HOUR, NOW - HOUR)
    store.remember("addr:10.0.0.5", old, NOW - 2 * HOUR)
    new = Acknowledgement("rich-media", NOW, NOW + HOUR)
    store.remember("addr:10.0.0.5", new, NOW)
    assert store.of("addr:10.0.0.5") == (new,)
