"""Tests for addons.who: a flow's `Who`, and the one record Leeway's addons share."""

from __future__ import annotations

from addons.who import METADATA_KEY, FlowNotes, Who, notes_of, who_of
from tests.addons.fakes import CLIENT, request_flow


def test_a_flow_identity_did_not_see_is_from_an_unidentified_client() -> None:
    flow = request_flow("example.org")
    assert who_of(flow) == Who(None, "none", CLIENT)
    assert who_of(flow).principal == f"addr:{CLIENT}"
    assert METADATA_KEY not in flow.metadata, "asking who sent a flow records nothing"


def test_who_of_reads_the_record_identity_made() -> None:
    flow = request_flow("example.org")
    flow.metadata[METADATA_KEY] = FlowNotes(Who("ada", "proxyauth", CLIENT))
    assert who_of(flow) == Who("ada", "proxyauth", CLIENT)
    assert who_of(flow).principal == "ada"


def test_notes_of_makes_one_record_per_flow_and_keeps_it() -> None:
    flow = request_flow("example.org")
    notes = notes_of(flow)
    assert notes == FlowNotes(Who(None, "none", CLIENT))
    assert notes_of(flow) is notes is flow.metadata[METADATA_KEY]
