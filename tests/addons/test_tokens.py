"""Tests for addons.tokens: the Continue button's signed token."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from addons import tokens
from addons.tokens import TokenError, issue, verify

KEY = b"k" * 32
OTHER_KEY = b"o" * 32
NOW = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _token(
    principal: str = "alice", category: str = "social", lifetime: timedelta = timedelta(minutes=30)
) -> str:
    return issue(KEY, principal=principal, category=category, now=NOW, lifetime=lifetime)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _swap_payload(token: str, **changes: object) -> str:
    """The token's payload with `changes`, under the original signature."""
    body, _, signature = token.partition(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload.update(changes)
    return f"{_b64(json.dumps(payload).encode())}.{signature}"


def test_round_trip_returns_the_category() -> None:
    token = _token(category="rich-media")
    assert verify(KEY, token, principal="alice", now=NOW) == "rich-media"


def test_token_is_url_safe_and_compact() -> None:
    token = _token(principal="addr:10.0.0.7")
    assert len(token) < 200
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert verify(KEY, token, principal="addr:10.0.0.7", now=NOW) == "social"


def test_non_ascii_principal_round_trips() -> None:
    assert verify(KEY, _token(principal="zoë"), principal="zoë", now=NOW) == "social"


def test_each_token_is_different() -> None:
    assert _token() != _token()


def test_valid_until_just_before_expiry() -> None:
    token = _token(lifetime=timedelta(minutes=5))
    just_before = NOW + timedelta(minutes=5) - timedelta(seconds=1)
    assert verify(KEY, token, principal="alice", now=just_before) == "social"


@pytest.mark.parametrize(
    "later",
    [
        pytest.param(timedelta(minutes=30), id="at expiry"),
        pytest.param(timedelta(days=2), id="long after"),
    ],
)
def test_expired(later: timedelta) -> None:
    with pytest.raises(TokenError, match=r"^token expired$"):
        verify(KEY, _token(), principal="alice", now=NOW + later)


def test_another_users_token() -> None:
    with pytest.raises(TokenError, match=r"^token is for another user$"):
        verify(KEY, _token(principal="alice"), principal="bob", now=NOW)


def test_category_checked_when_given() -> None:
    token = _token(category="social")
    assert verify(KEY, token, principal="alice", now=NOW, category="social") == "social"
    with pytest.raises(TokenError, match=r"^token is for another category$"):
        verify(KEY, token, principal="alice", now=NOW, category="rich-media")


def test_another_key() -> None:
    token = issue(OTHER_KEY, principal="alice", category="social", now=NOW)
    with pytest.raises(TokenError, match=r"^bad signature$"):
        verify(KEY, token, principal="alice", now=NOW)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"p": "bob"}, id="other principal"),
        pytest.param({"c": "rich-media"}, id="other category"),
        pytest.param({"e": 4_000_000_000}, id="later expiry"),
    ],
)
def test_tampered_payload_keeps_nothing(changes: dict[str, object]) -> None:
    forged = _swap_payload(_token(), **changes)
    with pytest.raises(TokenError, match=r"^bad signature$"):
        verify(KEY, forged, principal=str(changes.get("p", "alice")), now=NOW)


def test_forged_signature() -> None:
    body, _, _ = _token().partition(".")
    with pytest.raises(TokenError, match=r"^bad signature$"):
        verify(KEY, f"{body}.{_b64(b'x' * 32)}", principal="alice", now=NOW)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("", id="empty"),
        pytest.param(".", id="only a dot"),
        pytest.param("abc", id="no dot"),
        pytest.param("abc.", id="no signature"),
        pytest.param(".abc", id="no payload"),
        pytest.param("a b.cd", id="space"),
        pytest.param("abc=.def", id="padding"),
        pytest.param("abc+/.def", id="standard base64 alphabet"),
        pytest.param("a.b.c", id="two dots"),
        pytest.param("abcde.a", id="impossible base64 length"),
        pytest.param("é.é", id="non-ascii"),
        pytest.param("A" * 5000 + "." + "B" * 43, id="huge"),
    ],
)
def test_malformed(token: str) -> None:
    with pytest.raises(TokenError, match=r"^malformed token$"):
        verify(KEY, token, principal="alice", now=NOW)


def test_signed_garbage_payload_is_malformed() -> None:
    """Only a key holder can get here, but a bad payload still fails cleanly."""
    for raw in (b"[1, 2]", b'{"p": "alice", "c": "social", "e": true}', b"\xff\xfe"):
        body = _b64(raw)
        token = f"{body}.{_b64(tokens._sign(KEY, body))}"
        with pytest.raises(TokenError, match=r"^malformed token$"):
            verify(KEY, token, principal="alice", now=NOW)


def test_longest_accepted_length() -> None:
    token = _token()
    padded = token + "A" * (tokens.MAX_TOKEN_LENGTH - len(token))
    with pytest.raises(TokenError, match=r"^bad signature$"):
        verify(KEY, padded, principal="alice", now=NOW)
    with pytest.raises(TokenError, match=r"^malformed token$"):
        verify(KEY, padded + "A", principal="alice", now=NOW)


@given(st.text(max_size=3000))
def test_arbitrary_text_raises_only_token_error(text: str) -> None:
    with pytest.raises(TokenError):
        verify(KEY, text, principal="alice", now=NOW)


@given(st.text(alphabet="ABCDEFabcdef0123456789-_.", max_size=200))
def test_arbitrary_token_alphabet_raises_only_token_error(text: str) -> None:
    with pytest.raises(TokenError):
        verify(KEY, text, principal="alice", now=NOW)


def test_short_key_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        issue(b"", principal="alice", category="social", now=NOW)
    with pytest.raises(ValueError, match="at least 16 bytes"):
        verify(b"short", _token(), principal="alice", now=NOW)


def test_naive_now_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        issue(KEY, principal="alice", category="social", now=NOW.replace(tzinfo=None))


def test_non_positive_lifetime_refused() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        _token(lifetime=timedelta(0))


def test_principal_too_long_for_a_token_refused_at_issue() -> None:
    with pytest.raises(ValueError, match="too long"):
        _token(principal="x" * 2000)


def test_new_key_is_random_and_long_enough() -> None:
    assert len(tokens.new_key()) == 32
    assert tokens.new_key() != tokens.new_key()


def test_a_request_token_round_trips_its_category_and_host() -> None:
    token = tokens.issue_request(
        KEY, principal="alice", category="social", host="www.facebook.com", now=NOW, lifetime=HOUR
    )
    got = tokens.verify_request(KEY, token, principal="alice", now=NOW + timedelta(minutes=59))
    assert got == ("social", "www.facebook.com")
    with pytest.raises(TokenError, match="another user"):
        tokens.verify_request(KEY, token, principal="bob", now=NOW)
    with pytest.raises(TokenError, match="expired"):
        tokens.verify_request(KEY, token, principal="alice", now=NOW + HOUR)


def test_a_request_token_and_a_continue_token_do_not_pass_for_each_other() -> None:
    continue_token = issue(KEY, principal="alice", category="social", now=NOW)
    with pytest.raises(TokenError, match="not a token to ask for access"):
        tokens.verify_request(KEY, continue_token, principal="alice", now=NOW)
    request_token = tokens.issue_request(
        KEY, principal="alice", category="social", host="x.com", now=NOW, lifetime=HOUR
    )
    # As a Continue it names no category of the policy, and none of the one asked for.
    claim = verify(KEY, request_token, principal="alice", now=NOW)
    assert claim != "social" and json.loads(claim) == ["ask", "social", "x.com"]
    with pytest.raises(TokenError, match="another category"):
        verify(KEY, request_token, principal="alice", now=NOW, category="social")


@pytest.mark.parametrize("category", ['"x"', "[1, 2]", "12", '["ask", 1, "h"]', '["go", "a", "h"]'])
def test_a_continue_claim_shaped_like_json_is_no_request_token(category: str) -> None:
    token = issue(KEY, principal="alice", category=category, now=NOW)
    with pytest.raises(TokenError, match="not a token to ask for access"):
        tokens.verify_request(KEY, token, principal="alice", now=NOW)
