"""Tests for addons.context: `Leeway.subject_for`, the one guard at the store's boundary."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest

from addons.who import Who
from policy import Subject
from policy.subject import Acknowledgement
from tests.addons.fakes import TRAINED, DictEntitlements, make_leeway
from tests.policy.samples import NOW


class PeekRaises(DictEntitlements):
    """A source that breaks its protocol on the event loop, before any load."""

    def peek(self, username: str) -> Subject | None:
        raise KeyError(username)


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(DictEntitlements(failure=RuntimeError("store exploded")), id="get raises"),
        pytest.param(PeekRaises(), id="peek raises"),
    ],
)
def test_a_source_that_raises_gives_a_degraded_anonymous_subject_and_a_logged_reference(
    source: DictEntitlements, caplog: pytest.LogCaptureFixture
) -> None:
    leeway = make_leeway(entitlements=source)
    with caplog.at_level(logging.ERROR, logger="leeway"):
        subject = asyncio.run(leeway.subject_for(Who("ada", "proxyauth", "10.0.0.5"), "x.com"))
    assert subject == Subject.anonymous("ada", degraded=True)
    [record] = caplog.records
    assert re.match(
        r"ref [0-9A-F]{8}: the entitlements of 'ada' could not be read", record.msg % record.args
    )
    assert "x.com" in record.getMessage() and record.exc_info is not None


def test_a_healthy_source_answers_as_it_is() -> None:
    leeway = make_leeway({"tess": TRAINED})
    subject = asyncio.run(leeway.subject_for(Who("tess", "proxyauth", "10.0.0.5"), "x.com"))
    assert subject == TRAINED and not subject.degraded


def test_an_unidentified_client_carries_its_continues_from_memory() -> None:
    leeway = make_leeway()
    ack = Acknowledgement("social", NOW, NOW.replace(hour=NOW.hour + 1))
    leeway.sibling_acknowledged(None, "addr:10.0.0.5", ack, NOW)
    subject = asyncio.run(leeway.subject_for(Who(None, "none", "10.0.0.5"), "x.com"))
    assert subject.username is None and subject.acknowledgements == (ack,)
    assert not subject.degraded


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("leeway.internal", True),
        ("LEEWAY.Internal", True),
        ("leeway.internal.", True),
        ("leeway.internals", False),
        ("xleeway.internal", False),
        ("www.leeway.internal", False),
        ("leeway", False),
    ],
)
def test_is_portal_in_any_spelling_of_the_name(host: str, expected: bool) -> None:
    assert make_leeway().is_portal(host) is expected
