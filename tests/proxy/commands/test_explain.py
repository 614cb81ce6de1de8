"""`leeway explain USERNAME URL`: decision, reason and explanation under the bundled policy."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from policy import load_default_policy

if TYPE_CHECKING:
    from tests.proxy.cli_support import Leeway

AT = "2025-09-01T12:00:00+00:00"
UNKNOWN = "User 'zoe' is not in the store: decided as a user with no training and no roles."


@pytest.fixture
def staff(leeway: Leeway) -> Leeway:
    """alice: no training. trained: basics. publisher: basics, publishing and the role.
    lapsed: basics long ago."""
    for name in ("alice", "trained", "publisher", "lapsed"):
        leeway.ok("users", "add", name)
    record = ("training", "record")
    leeway.ok(*record, "trained", "social-media-basics", "--completed-at", "2025-06-01")
    leeway.ok(*record, "publisher", "social-media-basics", "--completed-at", "2025-06-01")
    leeway.ok(*record, "publisher", "social-media-publishing", "--completed-at", "2025-06-02")
    leeway.ok("grants", "add", "publisher", "comms-publisher", "--starts", "2025-01-01")
    leeway.ok(*record, "lapsed", "social-media-basics", "--completed-at", "2024-01-01")
    return leeway


def explain(leeway: Leeway, *args: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(leeway.ok("explain", *args, "--json"))
    return document


def test_json_has_the_contract_keys(staff: Leeway) -> None:
    document = explain(staff, "alice", "https://www.facebook.com/groups", "--at", AT)
    assert document == {
        "action": "warn",
        "access": "read",
        "category": "social",
        "rule": "social-everyone",
        "reason": "rule_matched",
        "host": "www.facebook.com",
        "revision": load_default_policy().revision,
        "explanation": document["explanation"],
        "user": "alice",
        "known_user": True,
        "deactivated_at": None,
        "at": AT,
        "method": "GET",
        "training": [],
    }
    assert document["explanation"][0] == (
        "www.facebook.com is in category social (listed as facebook.com)."
    )
    assert document["explanation"][-1] == "Rule 'social-everyone' applies: read is warn."


@pytest.mark.parametrize(
    ("args", "action", "access", "category", "rule", "reason"),
    [
        pytest.param(
            ["alice", "example.org/news"], "allow", "read", None, None, "uncategorized",
            id="uncategorized",
        ),
        pytest.param(
            ["alice", "www.facebook.com/x"], "warn", "read", "social", "social-everyone",
            "rule_matched", id="untrained read -> warn",
        ),
        pytest.param(
            ["alice", "m.facebook.com", "--method", "post"], "block", "write", "social",
            "social-everyone", "rule_matched", id="untrained write -> block",
        ),
        pytest.param(
            ["trained", "x.com"], "allow", "read", "social", "social-trained-staff",
            "rule_matched", id="trained read -> allow",
        ),
        pytest.param(
            ["trained", "x.com", "--method", "PUT"], "warn", "write", "social",
            "social-trained-staff", "rule_matched", id="trained write -> warn",
        ),
        pytest.param(
            ["publisher", "www.linkedin.com", "--method", "POST"], "allow", "write", "social",
            "social-publishers", "rule_matched", id="publisher write -> allow",
        ),
        pytest.param(
            ["lapsed", "facebook.com"], "warn", "read", "social", "social-everyone",
            "rule_matched", id="expired training -> warn",
        ),
    ],
)  # fmt: skip
def test_decisions(
    staff: Leeway,
    args: list[str],
    action: str,
    access: str,
    category: str | None,
    rule: str | None,
    reason: str,
) -> None:
    document = explain(staff, *args, "--at", AT)
    found = tuple(document[key] for key in ("action", "access", "category", "rule", "reason"))
    assert found == (action, access, category, rule, reason)


def test_expired_training_says_when_it_expired(staff: Leeway) -> None:
    document = explain(staff, "lapsed", "facebook.com", "--at", AT)
    assert (
        "Rule 'social-trained-staff' does not apply: training social-media-basics expired on"
        " 2024-12-31." in document["explanation"]
    )


def test_at_in_the_past_decides_on_the_records_of_that_moment(staff: Leeway) -> None:
    before = explain(staff, "trained", "x.com", "--at", "2025-05-01")
    assert (before["action"], before["rule"]) == ("warn", "social-everyone")
    assert before["at"] == "2025-05-01T00:00:00+00:00"
    after = explain(staff, "trained", "x.com", "--at", "2025-06-01T00:00:00+00:00")
    assert (after["action"], after["rule"]) == ("allow", "social-trained-staff")


def test_an_unknown_user_is_decided_with_nothing(staff: Leeway) -> None:
    document = explain(staff, "zoe", "facebook.com", "--at", AT)
    assert document["known_user"] is False
    assert (document["action"], document["rule"]) == ("warn", "social-everyone")
    assert document["explanation"][0] == UNKNOWN


def test_human_output_is_a_table_then_the_explanation(staff: Leeway) -> None:
    out = staff.ok("explain", "zoe", "http://user:pw@WWW.Facebook.com:8080/x?y=1", "--at", AT)
    lines = out.splitlines()
    assert lines[:8] == [
        "user      zoe (not in the store)",
        "URL host  www.facebook.com",
        "method    GET (read)",
        "action    warn",
        "category  social",
        "rule      social-everyone",
        "reason    rule_matched",
        f"at        {AT}",
    ]
    assert lines[8].startswith("policy    revision ")
    assert lines[9:11] == ["", UNKNOWN]
    assert lines[-1] == "Rule 'social-everyone' applies: read is warn."


def test_human_output_names_a_known_users_department(staff: Leeway) -> None:
    staff.ok("users", "add", "alice", "--department", "Comms & Media")
    out = staff.ok("explain", "alice", "youtube.com", "--at", AT)
    assert out.splitlines()[0] == "user      alice (Comms & Media)"
    assert "category  rich-media" in out


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://", "bad URL 'http://': no host"),
        ("http://exa mple.com/", "bad URL 'http://exa mple.com/': 'exa mple.com' is not a host"),
        ("http://[::1/", "bad URL 'http://[::1/': "),
    ],
)
def test_a_bad_url_is_refused(staff: Leeway, url: str, message: str) -> None:
    result = staff("explain", "alice", url)
    assert result.code == 1
    assert result.err.startswith(message)


def test_an_override_naming_post_is_decided_and_explained_as_posting(staff: Leeway) -> None:
    document = explain(staff, "trained", "www.facebook.com", "--override", "post", "--at", AT)
    assert (document["access"], document["action"]) == ("write", "warn")
    assert document["explanation"][1] == (
        "The request counts as posting: its X-HTTP-Method-Override header names POST."
    )
    table = staff.ok("explain", "trained", "www.facebook.com", "--override", "POST", "--at", AT)
    assert "GET, X-HTTP-Method-Override: POST (write)" in table


def test_a_bad_method_is_a_usage_error(staff: Leeway) -> None:
    result = staff("explain", "alice", "x.com", "--method", "GE T")
    assert result.code == 2
    assert "is not an HTTP method" in result.err
