"""Fixtures shared by the policy tests."""

from __future__ import annotations

import pytest

from policy import Policy, parse_policy
from tests.policy.samples import TEST_POLICY


@pytest.fixture(scope="session")
def policy() -> Policy:
    return parse_policy(TEST_POLICY.encode(), source="test", label="policy.toml")
