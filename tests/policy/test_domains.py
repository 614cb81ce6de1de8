"""Tests for policy.domains: a normalised host matched to the longest listed domain."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from policy.domains import DomainIndex
from policy.hosts import HostError, normalise_host
from tests.policy.samples import domains, labels

INDEX = DomainIndex(
    {
        "facebook.com": "social",
        "example.com": "a",
        "video.example.com": "b",
        "10.0.0.1": "intranet",
        "2001:db8::1": "intranet",
    }
)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        pytest.param("facebook.com", ("social", "facebook.com"), id="listed domain"),
        pytest.param("m.facebook.com", ("social", "facebook.com"), id="subdomain"),
        pytest.param("a.b.c.facebook.com", ("social", "facebook.com"), id="deep subdomain"),
        pytest.param("notfacebook.com", None, id="same ending, no label boundary"),
        pytest.param("facebook.com.evil.example", None, id="listed domain as prefix"),
        pytest.param("facebook.co", None, id="shorter"),
        pytest.param("com", None, id="parent of listed domain"),
        pytest.param("example.com", ("a", "example.com"), id="short listed domain"),
        pytest.param("www.example.com", ("a", "example.com"), id="sibling of longer domain"),
        pytest.param("video.example.com", ("b", "video.example.com"), id="longest wins"),
        pytest.param("cdn.video.example.com", ("b", "video.example.com"), id="longest wins deep"),
        pytest.param("10.0.0.1", ("intranet", "10.0.0.1"), id="listed IPv4"),
        pytest.param("10.0.0.2", None, id="unlisted IPv4"),
        pytest.param("2001:db8::1", ("intranet", "2001:db8::1"), id="listed IPv6"),
        pytest.param("2001:db8::2", None, id="unlisted IPv6"),
    ],
)
def test_domain_index_match(host: str, expected: tuple[str, str] | None) -> None:
    assert INDEX.match(host) == expected


def test_ip_matches_only_exactly() -> None:
    index = DomainIndex({"1.2.3.4": "x", "0.0.0.4": "y"})
    assert index.match("1.2.3.4") == ("x", "1.2.3.4")
    assert index.match("11.2.3.4") is None
    assert index.match("0.0.0.4") == ("y", "0.0.0.4")


def test_single_label_domain_covers_its_subdomains() -> None:
    index = DomainIndex({"internal": "intranet", "example.com": "a"})
    assert index.match("wiki.internal") == ("intranet", "internal")
    assert index.match("internal") == ("intranet", "internal")
    assert index.match("www.example.com") == ("a", "example.com")
    assert index.match("com") is None


def test_domain_index_refuses_unnormalised_domains() -> None:
    with pytest.raises(HostError, match="not a normalised domain"):
        DomainIndex({"Facebook.com": "social"})


@given(domains, st.lists(labels, min_size=1, max_size=4))
def test_every_subdomain_matches(domain: str, prefix: list[str]) -> None:
    index = DomainIndex({domain: "cat"})
    host = normalise_host(".".join([*prefix, domain]))
    assert isinstance(host, str)
    assert index.match(host) == ("cat", domain)
    assert index.match(domain) == ("cat", domain)


@given(domains, labels)
def test_text_ending_with_the_domain_does_not_match(domain: str, prefix: str) -> None:
    assume(not (prefix + domain).startswith("xn--"))
    index = DomainIndex({domain: "cat"})
    host = normalise_host(prefix + domain)
    assert isinstance(host, str)
    assert index.match(host) is None
    assert index.match(f"{domain}.evil-{prefix}.example") is None
