"""Tests for addons.authcache: successful proxy logins remembered briefly, by digest only."""

from __future__ import annotations

from mitmproxy.addons.proxyauth import Validator

from addons.authcache import CachedValidator

PASSWORD = "s3cret-pass"


class CountingValidator(Validator):
    """Accepts `password` for every user, and counts the checks it was asked to make."""

    def __init__(self, password: str = PASSWORD) -> None:
        self.password = password
        self.calls = 0

    def __call__(self, username: str, password: str) -> bool:
        self.calls += 1
        return password == self.password


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_second_check_with_the_same_credentials_skips_the_inner_validator() -> None:
    inner = CountingValidator()
    cached = CachedValidator(inner)
    assert cached("alice", PASSWORD)
    assert cached("alice", PASSWORD)
    assert inner.calls == 1


def test_other_credentials_are_checked_on_their_own() -> None:
    inner = CountingValidator()
    cached = CachedValidator(inner)
    assert cached("alice", PASSWORD)
    assert cached("bob", PASSWORD)
    assert inner.calls == 2


def test_a_wrong_password_is_never_cached() -> None:
    inner = CountingValidator()
    cached = CachedValidator(inner)
    assert not cached("alice", "guess")
    assert not cached("alice", "guess")
    assert inner.calls == 2
    # ...and a cached good login does not let a wrong password through.
    assert cached("alice", PASSWORD)
    assert not cached("alice", "guess")
    assert inner.calls == 4


def test_a_remembered_login_expires_after_the_ttl() -> None:
    inner, clock = CountingValidator(), Clock()
    cached = CachedValidator(inner, ttl=60.0, clock=clock)
    assert cached("alice", PASSWORD)
    clock.now += 59.9
    assert cached("alice", PASSWORD)
    assert inner.calls == 1
    clock.now += 0.1
    assert cached("alice", PASSWORD)
    assert inner.calls == 2


def test_a_password_changed_since_is_checked_again_after_the_ttl() -> None:
    inner, clock = CountingValidator(), Clock()
    cached = CachedValidator(inner, ttl=60.0, clock=clock)
    assert cached("alice", PASSWORD)
    inner.password = "new-pass"
    clock.now += 61
    assert not cached("alice", PASSWORD)


def test_the_cache_is_bounded_and_forgets_the_oldest_first() -> None:
    inner = CountingValidator()
    cached = CachedValidator(inner, max_entries=3)
    for user in ("u1", "u2", "u3", "u4"):
        assert cached(user, PASSWORD)
    assert len(cached._passed) == 3
    assert inner.calls == 4
    assert cached("u4", PASSWORD)  # still remembered
    assert inner.calls == 4
    assert cached("u1", PASSWORD)  # forgotten: checked again
    assert inner.calls == 5


def test_no_password_is_stored() -> None:
    password = "correct horse battery staple"
    cached = CachedValidator(CountingValidator(password))
    assert cached("alice", password)
    keys = list(cached._passed)
    assert len(keys) == 1
    for key in keys:
        assert password.encode() not in key
        assert b"alice" not in key
        assert len(key) == 32  # a SHA-256 digest
    assert password not in repr(vars(cached))


def test_digests_are_salted_per_instance() -> None:
    first = CachedValidator(CountingValidator())
    second = CachedValidator(CountingValidator())
    assert first._key("alice", "pw") != second._key("alice", "pw")
    # The separator keeps ("ab", "c") and ("a", "bc") apart.
    assert first._key("ab", "c") != first._key("a", "bc")
