"""Tests for policy.requestable: a request can only name a role a rule for its category accepts."""

from __future__ import annotations

import pytest

from policy import Policy, parse_policy
from policy.requestable import NotRequestable, check_requestable, requestable_roles

TWO_ROLES = """
[categories.social]
domains = ["facebook.com"]

[categories.news]
domains = ["news.example"]

[[rules]]
name = "publishers"
categories = ["social"]
roles_any = ["comms-publisher", "press-officer"]
read = "allow"

[[rules]]
name = "editors"
categories = ["social", "news"]
roles_any = ["editor"]
read = "allow"

[[rules]]
name = "everyone"
categories = ["social", "news"]
read = "warn"
"""


@pytest.fixture(scope="module")
def two_roles() -> Policy:
    return parse_policy(TWO_ROLES.encode(), source="test", label="policy.toml")


@pytest.mark.parametrize(
    ("category", "expected"),
    [
        pytest.param("social", {"comms-publisher", "press-officer", "editor"}, id="every rule"),
        pytest.param("news", {"editor"}, id="only the rules naming the category"),
        pytest.param("video", set(), id="unknown category -> none"),
    ],
)
def test_requestable_roles(two_roles: Policy, category: str, expected: set[str]) -> None:
    assert requestable_roles(two_roles, category) == expected


def test_the_shared_test_policy(policy: Policy) -> None:
    assert requestable_roles(policy, "social") == {"comms-publisher"}
    assert requestable_roles(policy, "rich-media") == {"manager"}
    assert requestable_roles(policy, "news") == frozenset()


def test_an_accepted_role_passes(two_roles: Policy) -> None:
    check_requestable(two_roles, "news", "editor")


@pytest.mark.parametrize(
    ("category", "role", "message"),
    [
        pytest.param(
            "news",
            "comms-publisher",
            "role 'comms-publisher' cannot be asked for on category 'news'"
            " (roles its rules accept: editor)",
            id="a role of another category",
        ),
        pytest.param(
            "social",
            "admin",
            "role 'admin' cannot be asked for on category 'social'"
            " (roles its rules accept: comms-publisher, editor, press-officer)",
            id="a role no rule names",
        ),
        pytest.param(
            "vidoe", "editor", "unknown category 'vidoe' (known: news, social)", id="unknown"
        ),
    ],
)
def test_other_roles_are_refused(two_roles: Policy, category: str, role: str, message: str) -> None:
    with pytest.raises(NotRequestable) as raised:
        check_requestable(two_roles, category, role)
    assert str(raised.value) == message


def test_a_category_without_role_rules_says_so(policy: Policy) -> None:
    with pytest.raises(NotRequestable, match="none: no rule for it names a role"):
        check_requestable(policy, "news", "manager")
