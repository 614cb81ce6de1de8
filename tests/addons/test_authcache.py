"""Tests for addons.authcache: successful sign-ins remembered briefly, by digest only."""

from __future__ import annotations

from addons.authcache import Passed, PassedLogins


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_remembered_login_answers_with_its_canonical_name() -> None:
    passed = PassedLogins()
    passed.remember(passed.key("Alice", "pw"), "alice")
    assert passed.get(passed.key("Alice", "pw")) == Passed("alice", stale=False)


def test_other_credentials_are_not_answered() -> None:
    passed = PassedLogins()
    passed.remember(passed.key("alice", "pw"), "alice")
    assert passed.get(passed.key("alice", "guess")) is None
    assert passed.get(passed.key("bob", "pw")) is None


def test_a_login_older_than_the_ttl_is_stale_and_past_max_age_gone() -> None:
    clock = Clock()
    passed = PassedLogins(ttl=60.0, max_age=600.0, clock=clock)
    key = passed.key("alice", "pw")
    passed.remember(key, "alice")
    clock.now += 59.9
    assert passed.get(key) == Passed("alice", stale=False)
    clock.now += 0.1
    assert passed.get(key) == Passed("alice", stale=True)
    passed.remember(key, "alice")  # checked again: fresh again
    assert passed.get(key) == Passed("alice", stale=False)
    clock.now += 600.0
    assert passed.get(key) is None
    assert len(passed) == 0


def test_forget_drops_a_login() -> None:
    passed = PassedLogins()
    key = passed.key("alice", "pw")
    passed.remember(key, "alice")
    passed.forget(key)
    assert passed.get(key) is None


def test_the_cache_is_bounded_and_forgets_the_oldest_first() -> None:
    passed = PassedLogins(max_entries=3)
    for user in ("u1", "u2", "u3", "u4"):
        passed.remember(passed.key(user, "pw"), user)
    assert len(passed) == 3
    assert passed.get(passed.key("u1", "pw")) is None
    assert passed.get(passed.key("u4", "pw")) == Passed("u4", stale=False)


def test_no_password_is_stored() -> None:
    password = "correct horse battery staple"
    passed = PassedLogins()
    passed.remember(passed.key("alice", password), "alice")
    keys = list(passed._passed)
    assert len(keys) == 1
    assert password.encode() not in keys[0]
    assert len(keys[0]) == 32  # a SHA-256 digest
    assert password not in repr(vars(passed))


def test_digests_are_salted_per_instance_and_separate_the_fields() -> None:
    first, second = PassedLogins(), PassedLogins()
    assert first.key("alice", "pw") != second.key("alice", "pw")
    assert first.key("ab", "c") != first.key("a", "bc")
