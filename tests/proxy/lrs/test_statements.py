"""Statements sorted into completions, voidings and skips: a table of cases, no LRS."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from policy.model import XAPI_DEFAULT_VERBS
from proxy.lrs.statements import (
    Completed,
    Directory,
    Skipped,
    Voiding,
    classify,
    mailbox_sha1,
)

COURSE = "https://lms.example.org/course/view.php?id=12"
COMPLETED, PASSED = XAPI_DEFAULT_VERBS
DIRECTORY = Directory(
    by_email={"ana@example.org": 1},
    by_sha1={mailbox_sha1("ana@example.org"): 1},
    by_username={"ana": 1},
    account_home_page="https://sso.example.org",
)
STORED = "2026-03-01T10:00:00+00:00"


def make(**changes: Any) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "id": "s-1",
        "actor": {"mbox": "mailto:Ana@Example.org"},
        "verb": {"id": COMPLETED},
        "object": {"id": COURSE, "objectType": "Activity"},
        "stored": STORED,
    }
    statement.update(changes)
    return {k: v for k, v in statement.items() if v is not None}


def outcome(statement: Any) -> Any:
    return classify(statement, DIRECTORY, {COURSE: "basics"}, frozenset(XAPI_DEFAULT_VERBS))


AT_STORED = datetime(2026, 3, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        (make(), Completed("s-1", 1, "basics", AT_STORED)),
        (make(verb={"id": PASSED}), Completed("s-1", 1, "basics", AT_STORED)),
        (
            make(timestamp="2026-02-28T09:00:00+01:00"),
            Completed("s-1", 1, "basics", datetime(2026, 2, 28, 8, tzinfo=UTC)),
        ),
        (
            make(actor={"mbox_sha1sum": mailbox_sha1("ana@example.org")}),
            Completed("s-1", 1, "basics", AT_STORED),
        ),
        (
            make(actor={"account": {"homePage": "https://sso.example.org", "name": "ana"}}),
            Completed("s-1", 1, "basics", AT_STORED),
        ),
        (
            make(result={"success": True, "completion": True}),
            Completed("s-1", 1, "basics", AT_STORED),
        ),
        (make(result={"success": False}), Skipped("s-1", "not_successful", COMPLETED)),
        (make(result={"completion": False}), Skipped("s-1", "not_successful", COMPLETED)),
        (
            make(verb={"id": "http://adlnet.gov/expapi/verbs/failed"}),
            Skipped("s-1", "other_verb", "http://adlnet.gov/expapi/verbs/failed"),
        ),
        (
            make(object={"id": "https://lms.example.org/other"}),
            Skipped("s-1", "unknown_activity", "https://lms.example.org/other"),
        ),
        (
            make(actor={"mbox": "mailto:bo@example.org"}),
            Skipped("s-1", "unknown_actor", "mailto:bo@example.org"),
        ),
        (
            make(actor={"account": {"homePage": "https://elsewhere.example.org", "name": "ana"}}),
            Skipped("s-1", "unknown_actor", "https://elsewhere.example.org account ana"),
        ),
        (
            make(
                verb={"id": "http://adlnet.gov/expapi/verbs/voided"},
                object={"objectType": "StatementRef", "id": "s-0"},
            ),
            Voiding("s-1", "s-0"),
        ),
        (
            make(verb={"id": "http://adlnet.gov/expapi/verbs/voided"}),
            Skipped("s-1", "malformed", "a voiding statement's object must be a StatementRef"),
        ),
        (make(verb=None), Skipped("s-1", "malformed", "verb must be an object")),
        (make(id=None), Skipped("", "malformed", "id is missing or not a string")),
        (make(stored=None), Skipped("s-1", "malformed", "neither timestamp nor stored is given")),
        (
            make(timestamp="yesterday"),
            Skipped("s-1", "malformed", "timestamp 'yesterday' is not an ISO 8601 time"),
        ),
        (make(result="yes"), Skipped("s-1", "malformed", "result must be an object")),
        ("not an object", Skipped("", "malformed", "a statement is a JSON object, got str")),
    ],
)
def test_statements_are_classified(statement: Any, expected: Any) -> None:
    assert outcome(statement) == expected


def test_the_policy_can_change_the_verbs() -> None:
    verbs = frozenset({"https://w3id.org/xapi/cmi5/verbs/completed"})
    statement = make(verb={"id": "https://w3id.org/xapi/cmi5/verbs/completed"})
    assert isinstance(classify(statement, DIRECTORY, {COURSE: "basics"}, verbs), Completed)
    assert classify(make(), DIRECTORY, {COURSE: "basics"}, verbs) == Skipped(
        "s-1", "other_verb", COMPLETED
    )


LMS_AGENT = {"objectType": "Agent", "mbox": "mailto:LMS@example.org"}
SCORM_APP = {"objectType": "Agent", "account": {"homePage": "https://cloud.example", "name": "A1"}}
TRUSTED = frozenset({"mailto:lms@example.org", "account:A1@https://cloud.example"})


def vouched(statement: Any) -> Any:
    verbs = frozenset(XAPI_DEFAULT_VERBS)
    return classify(statement, DIRECTORY, {COURSE: "basics"}, verbs, TRUSTED)


@pytest.mark.parametrize(
    ("authority", "expected"),
    [
        pytest.param(LMS_AGENT, Completed("s-1", 1, "basics", AT_STORED), id="the LMS"),
        pytest.param(SCORM_APP, Completed("s-1", 1, "basics", AT_STORED), id="an app's account"),
        pytest.param(
            {"objectType": "Group", "member": [SCORM_APP, {"mbox": "mailto:ana@example.org"}]},
            Completed("s-1", 1, "basics", AT_STORED),
            id="OAuth: the app and the user",
        ),
        pytest.param(
            {"objectType": "Agent", "mbox": "mailto:ana@example.org"},
            Skipped("s-1", "untrusted_authority", "mailto:ana@example.org"),
            id="the learner vouching for herself",
        ),
        pytest.param(
            None, Skipped("s-1", "untrusted_authority", "no authority"), id="no authority"
        ),
    ],
)
def test_only_statements_a_trusted_authority_vouches_for_count(
    authority: Any, expected: Any
) -> None:
    assert vouched(make(authority=authority)) == expected


def test_a_voiding_by_an_untrusted_authority_voids_nothing() -> None:
    voiding = make(
        verb={"id": "http://adlnet.gov/expapi/verbs/voided"},
        object={"objectType": "StatementRef", "id": "s-0"},
        authority={"mbox": "mailto:ana@example.org"},
    )
    assert vouched(voiding) == Skipped("s-1", "untrusted_authority", "mailto:ana@example.org")
    assert outcome(voiding) == Voiding("s-1", "s-0"), "without a list, every authority counts"
