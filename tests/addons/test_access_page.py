"""Tests for addons.access_page: the facts of the access page, one document for HTML and JSON."""

from __future__ import annotations

import json
from datetime import timedelta

from addons.access_page import access_document, request_url, web_link
from addons.who import Who
from policy import Acknowledgement, Subject
from policy.standing import standing
from tests.addons.fakes import TRAINED, sample_policy
from tests.addons.portal_support import Kept
from tests.policy.samples import NOW

POLICY = sample_policy()
TESS = Who("tess", "proxyauth", "10.0.0.5")
NOBODY = Who(None, "none", "10.0.0.5")


def document(who: Who, subject: Subject, requests: tuple[Kept, ...] = ()) -> dict[str, object]:
    built = access_document(POLICY, who, subject, standing(POLICY, subject, NOW), requests)
    json.dumps(built)  # JSON as it is
    return built


def test_the_keys_of_the_document() -> None:
    assert list(document(TESS, TRAINED)) == [
        "identified",
        "person",
        "records_available",
        "policy_revision",
        "categories",
        "courses",
        "acknowledgements",
        "roles",
        "requests",
    ]


def test_a_pending_request_replaces_the_link_to_ask() -> None:
    asked = Kept(7, "tess", "social", "comms-publisher", "why", "pending", NOW)
    social = document(TESS, TRAINED, (asked,))["categories"][0]  # type: ignore[index]
    (role,) = social["write"]["remedy"]["roles"]
    assert (role["pending_request"], role["request_url"]) == (
        7, "/request?category=social&role=comms-publisher",
    )  # fmt: skip
    denied = Kept(8, "tess", "social", "comms-publisher", "why", "denied", NOW, NOW, "No.")
    listed = document(TESS, TRAINED, (denied,))["requests"]
    assert listed == [
        {
            "id": 8,
            "category": "social",
            "role": "comms-publisher",
            "justification": "why",
            "state": "denied",
            "requested_at": NOW.isoformat(),
            "decided_at": NOW.isoformat(),
            "reason": "No.",
            "url": "/requests/8",
        }
    ]


def test_someone_the_store_does_not_know_gets_no_request_links() -> None:
    unknown = Subject.anonymous("zed")
    social = document(Who("zed", "proxyauth", "10.0.0.5"), unknown)["categories"][0]  # type: ignore[index]
    assert all(r["request_url"] is None for r in social["read"]["remedy"]["roles"])


def test_acknowledgements_carry_when_they_end() -> None:
    ack = Acknowledgement("social", NOW - timedelta(hours=1), NOW + timedelta(hours=7))
    subject = Subject("ann", known=True, acknowledgements=(ack,))
    assert document(Who("ann", "header", "10.0.0.5"), subject)["acknowledgements"] == [
        {
            "category": "social",
            "acknowledged_at": ack.acknowledged_at.isoformat(),
            "expires_at": ack.expires_at.isoformat(),
        }
    ]


def test_an_unidentified_visitor_gets_nothing_personal() -> None:
    got = document(NOBODY, Subject.anonymous())
    assert (got["identified"], got["person"], got["requests"]) == (False, None, [])
    courses = got["courses"]
    assert isinstance(courses, list)
    assert all(set(c) == {"key", "title", "url", "valid_for_days"} for c in courses)


def test_only_web_links_are_links() -> None:
    assert web_link("https://l.example/c") == "https://l.example/c"
    assert web_link("javascript:alert(1)") is None
    assert request_url("a b", "r&s") == "/request?category=a+b&role=r%26s"
