"""Tests for policy.hosts: every spelling of a host brought to one normal form."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policy.hosts import (
    HostError,
    InvalidHost,
    is_ip_literal,
    normalise_domain,
    normalise_host,
)
from tests.policy.samples import domains

CDN_HOST = "rr5---sn-4g5e6nsz.googlevideo.com"
NORMALISED = [
    pytest.param("www.facebook.com", "www.facebook.com", id="already normal"),
    pytest.param("WWW.FaceBook.COM", "www.facebook.com", id="case"),
    pytest.param("facebook.com.", "facebook.com", id="trailing dot"),
    pytest.param("facebook.com:443", "facebook.com", id="port"),
    pytest.param("facebook.com.:8443", "facebook.com", id="trailing dot and port"),
    pytest.param("facebook.com:", "facebook.com", id="empty port (RFC 3986)"),
    pytest.param("[::1]:8080", "::1", id="bracketed IPv6 with port"),
    pytest.param("[::1]", "::1", id="bracketed IPv6"),
    pytest.param("::1", "::1", id="bare IPv6 from SNI"),
    pytest.param("2001:DB8:0:0:0:0:0:1", "2001:db8::1", id="IPv6 compressed"),
    pytest.param("[::ffff:10.0.0.1]:80", "10.0.0.1", id="IPv4-mapped IPv6 is the IPv4"),
    pytest.param("10.0.0.1", "10.0.0.1", id="IPv4"),
    pytest.param("10.0.0.1:3128", "10.0.0.1", id="IPv4 with port"),
    pytest.param("127.1", "127.0.0.1", id="short IPv4"),
    pytest.param("0x7f.0.0.1", "127.0.0.1", id="hex IPv4"),
    pytest.param("0177.0.0.1", "127.0.0.1", id="octal IPv4"),
    pytest.param("2130706433", "127.0.0.1", id="IPv4 as one number"),
    pytest.param("Bücher.example", "xn--bcher-kva.example", id="IDN to punycode"),
    pytest.param("XN--BCHER-KVA.example", "xn--bcher-kva.example", id="upper-case A-label"),
    pytest.param("bücher。example", "xn--bcher-kva.example", id="ideographic full stop"),
    pytest.param("bücher．example", "xn--bcher-kva.example", id="fullwidth full stop"),
    pytest.param("bücher｡example", "xn--bcher-kva.example", id="halfwidth full stop"),
    pytest.param("ＷＷＷ.example", "www.example", id="fullwidth letters"),
    pytest.param("straße.de", "strasse.de", id="sharp s maps to ss (IDNA 2003)"),
    pytest.param("xn--strae-oqa.de", "xn--strae-oqa.de", id="IDNA 2008 A-label kept"),
    pytest.param("_dmarc.example.com", "_dmarc.example.com", id="underscore"),
    pytest.param(CDN_HOST, CDN_HOST, id="hyphens in a CDN host"),
    pytest.param("localhost", "localhost", id="single label"),
    pytest.param("a.1e3", "a.1e3", id="last label not a number"),
    pytest.param("a" * 63 + ".com", "a" * 63 + ".com", id="63-character label"),
]

INVALID = [
    pytest.param("", "empty host", id="empty"),
    pytest.param(".", "empty host", id="only a dot"),
    pytest.param(":443", "empty host", id="only a port"),
    pytest.param("a..b", "empty label", id="empty label"),
    pytest.param("example.com..", "empty label", id="two trailing dots"),
    pytest.param(".example.com", "empty label", id="leading dot"),
    pytest.param("exa mple.com", "space in label", id="space"),
    pytest.param("example.com\t", "whitespace in label", id="tab"),
    pytest.param("example.com/path", "'/' not allowed", id="slash"),
    pytest.param("user@example.com", "'@' not allowed", id="at sign"),
    pytest.param("*.example.com", "'*' not allowed", id="wildcard"),
    pytest.param("-example.com", "hyphen", id="leading hyphen"),
    pytest.param("example-.com", "hyphen", id="trailing hyphen"),
    pytest.param("a" * 64 + ".com", "label longer than 63 characters", id="long label"),
    pytest.param(".".join(["a" * 60] * 5), "longer than 253 characters", id="long name"),
    pytest.param("x" * 5000, "longer than 253 characters", id="huge"),
    pytest.param("example.com:99999", "bad port '99999'", id="port out of range"),
    pytest.param("example.com:http", "bad port 'http'", id="port not a number"),
    pytest.param("[::1", "'[' without ']'", id="unclosed bracket"),
    pytest.param("[::1]443", "unexpected '443'", id="junk after bracket"),
    pytest.param("[example.com]", "bad IPv6 address", id="name in brackets"),
    pytest.param("1:2:3", "bad IPv6 address", id="bad bare IPv6"),
    pytest.param("fe80::1%eth0", "zone index", id="IPv6 zone"),
    pytest.param("1.2.3.256", "bad IPv4 address", id="IPv4 octet too big"),
    pytest.param("1.2.3.4.5", "bad IPv4 address", id="IPv4 five parts"),
    pytest.param("08.1.1.1", "bad IPv4 address", id="IPv4 bad octal"),
    pytest.param("foo.123", "bad IPv4 address", id="numeric last label"),
    pytest.param("xn--abc.com", "not valid punycode", id="bad A-label"),
    pytest.param("\u00ad.com", "cannot convert", id="label mapped to nothing"),
    pytest.param("\udcff.com", "cannot convert", id="lone surrogate"),
    pytest.param("a\x00b.com", "not allowed", id="NUL"),
]


@pytest.mark.parametrize(("raw", "expected"), NORMALISED)
def test_normalise_host(raw: str, expected: str) -> None:
    assert normalise_host(raw) == expected
    assert normalise_host(expected) == expected


@pytest.mark.parametrize(("raw", "reason"), INVALID)
def test_invalid_host_gives_a_reason(raw: str, reason: str) -> None:
    result = normalise_host(raw)
    assert isinstance(result, InvalidHost)
    assert result.raw == raw
    assert reason in result.reason
    assert str(result).endswith(f"is not a host name: {result.reason}")


def test_invalid_host_message() -> None:
    result = normalise_host("exa mple.com")
    assert str(result) == "'exa mple.com' is not a host name: space in label"
    assert len(str(normalise_host("x" * 5000))) < 150


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("Facebook.COM.", "facebook.com", id="case and dot"),
        pytest.param("Bücher.example", "xn--bcher-kva.example", id="IDN"),
        pytest.param("10.0.0.1", "10.0.0.1", id="IPv4"),
        pytest.param("[2001:db8::1]", "2001:db8::1", id="IPv6"),
    ],
)
def test_normalise_domain(raw: str, expected: str) -> None:
    assert normalise_domain(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param("facebook.com:443", "a port is not allowed", id="port"),
        pytest.param("[::1]:443", "a port is not allowed", id="IPv6 port"),
        pytest.param("*.facebook.com", "list 'facebook.com', which covers", id="wildcard"),
        pytest.param("https://facebook.com/", "without scheme or path", id="url"),
        pytest.param("straße.de", "IDNA 2003 and IDNA 2008", id="sharp s"),
        pytest.param("", "empty host", id="empty"),
        pytest.param("face book.com", "space in label", id="space"),
    ],
)
def test_normalise_domain_refuses(raw: str, message: str) -> None:
    with pytest.raises(HostError, match=message) as caught:
        normalise_domain(raw)
    assert isinstance(caught.value, ValueError)
    assert repr(raw) in str(caught.value)


IP_LITERALS = [
    ("10.0.0.1", True),
    ("::1", True),
    ("2001:db8::1", True),
    ("example.com", False),
    ("a.1e3", False),
    ("localhost", False),
    ("xn--bcher-kva.example", False),
]


@pytest.mark.parametrize(("host", "expected"), IP_LITERALS)
def test_is_ip_literal(host: str, expected: bool) -> None:
    assert is_ip_literal(host) is expected


ascii_noise = st.text(alphabet="aZx0189.-_:[]%@/ \tN")
unicode_noise = st.text(alphabet="aZ0.-:[]ßüİςẞ\u200d\u00ad。．｡１Ａ\udcff")


@st.composite
def mixed_case(draw: st.DrawFn, text: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.upper() if flip else c for c, flip in zip(text, flips, strict=True))


@given(domains, st.data())
def test_normalisation_is_case_blind_and_idempotent(domain: str, data: st.DataObject) -> None:
    assert normalise_host(domain) == domain
    assert normalise_host(domain.upper()) == domain
    assert normalise_host(data.draw(mixed_case(domain))) == domain
    assert normalise_host(domain + ".:443") == domain


@given(st.one_of(st.text(), ascii_noise, unicode_noise))
def test_normalise_host_never_raises_and_is_idempotent(raw: str) -> None:
    result = normalise_host(raw)
    if isinstance(result, str):
        assert normalise_host(result) == result
    else:
        assert isinstance(result, InvalidHost)
        assert result.reason


@given(ascii_noise)
def test_ascii_case_does_not_change_the_outcome(raw: str) -> None:
    lower, upper = normalise_host(raw.lower()), normalise_host(raw.upper())
    assert type(lower) is type(upper)
    if isinstance(lower, str):
        assert lower == upper
