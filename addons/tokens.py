"""The Continue button's token: HMAC-signed, bound to a principal, a category and an expiry.

The form to ask for access carries one too, whose claim is the category and the host of
the page the form is on (`issue_request`): neither kind of token passes for the other.
Pure and clock-free (`now` is a parameter), so the pages and their handlers share it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from datetime import datetime, timedelta
from typing import NamedTuple

MAX_TOKEN_LENGTH = 2048
MIN_KEY_LENGTH = 16
DEFAULT_LIFETIME = timedelta(minutes=30)

# Only the URL-safe alphabet, without padding: anything else is malformed before decoding,
# because the standard library's decoder silently skips characters it does not know.
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
_DIGEST = hashlib.sha256


class TokenError(ValueError):
    """A token that must not be honoured; `str()` is a short plain reason."""


def new_key() -> bytes:
    """A fresh random signing key (32 bytes), for the store to keep and share."""
    return secrets.token_bytes(32)


def issue(
    key: bytes,
    *,
    principal: str,
    category: str,
    now: datetime,
    lifetime: timedelta = DEFAULT_LIFETIME,
) -> str:
    """A token for `principal` to acknowledge `category`, valid until `now + lifetime`."""
    _check_key(key)
    if lifetime <= timedelta(0):
        raise ValueError(f"token lifetime must be positive, not {lifetime}")
    payload = {
        "p": principal,
        "c": category,
        "e": int((_aware(now) + lifetime).timestamp()),
        "n": secrets.token_urlsafe(9),
    }
    body = _encode(json.dumps(payload, separators=(",", ":")).encode())
    token = f"{body}.{_encode(_sign(key, body))}"
    if len(token) > MAX_TOKEN_LENGTH:
        # verify() would refuse it: fail here, where the cause is visible.
        raise ValueError(f"token for principal of {len(principal)} characters is too long")
    return token


def verify(
    key: bytes, token: str, *, principal: str, now: datetime, category: str | None = None
) -> str:
    """The category `token` acknowledges, if it is genuine, unexpired and for `principal`.

    With `category`, the token must also be for that category. Raises `TokenError` for
    any token that does not qualify, and for nothing else.
    """
    _check_key(key)
    moment = _aware(now)
    claims = _claims(key, token)
    if claims.principal != principal:
        raise TokenError("token is for another user")
    if category is not None and claims.category != category:
        raise TokenError("token is for another category")
    if moment.timestamp() >= claims.expires:
        raise TokenError("token expired")
    return claims.category


def issue_request(
    key: bytes, *, principal: str, category: str, host: str, now: datetime, lifetime: timedelta
) -> str:
    """A token for `principal` to ask for a role on `category` from a page on `host`."""
    claim = json.dumps([_ASK, category, host], separators=(",", ":"))
    return issue(key, principal=principal, category=claim, now=now, lifetime=lifetime)


def verify_request(key: bytes, token: str, *, principal: str, now: datetime) -> tuple[str, str]:
    """The (category, host) of a genuine, unexpired request token of `principal`."""
    claim = verify(key, token, principal=principal, now=now)
    try:
        kind, category, host = json.loads(claim)
    except (ValueError, TypeError) as e:  # a Continue token's claim is a bare category
        raise TokenError("not a token to ask for access") from e
    if kind != _ASK or not (isinstance(category, str) and isinstance(host, str)):
        raise TokenError("not a token to ask for access")
    return category, host


_ASK = "ask"


class _Claims(NamedTuple):
    principal: str
    category: str
    expires: int  # unix seconds


def _claims(key: bytes, token: object) -> _Claims:
    """The signed claims of `token`: its signature is checked before its payload is read."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise TokenError("malformed token")
    body, dot, signature = token.partition(".")
    if not dot or not _SEGMENT.fullmatch(body) or not _SEGMENT.fullmatch(signature):
        raise TokenError("malformed token")
    given = _decode(signature)
    if not hmac.compare_digest(given, _sign(key, body)):
        raise TokenError("bad signature")
    try:
        payload = json.loads(_decode(body))
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise TokenError("malformed token") from e
    return _parse(payload)


def _parse(payload: object) -> _Claims:
    if not isinstance(payload, dict):
        raise TokenError("malformed token")
    principal, category, expires = payload.get("p"), payload.get("c"), payload.get("e")
    if not (isinstance(principal, str) and isinstance(category, str)):
        raise TokenError("malformed token")
    if not isinstance(expires, int) or isinstance(expires, bool):
        raise TokenError("malformed token")
    return _Claims(principal, category, expires)


def _sign(key: bytes, body: str) -> bytes:
    return hmac.new(key, body.encode("ascii"), _DIGEST).digest()


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode(segment: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except binascii.Error as e:  # a length of 4n+1 cannot be base64
        raise TokenError("malformed token") from e


def _check_key(key: bytes) -> None:
    if len(key) < MIN_KEY_LENGTH:
        raise ValueError(f"signing key must be at least {MIN_KEY_LENGTH} bytes, not {len(key)}")


def _aware(now: datetime) -> datetime:
    # A naive datetime's timestamp() is read as local time: refuse it rather than guess.
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, not {now.isoformat()}")
    return now
