"""The listed domains of a policy's categories, and the match of a normalised host to one.

A host belongs to a category when it equals a listed domain or is a subdomain of one, on
label boundaries; the longest listed domain wins. Hosts come here in normal form
(`policy.hosts.normalise_host`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from policy.hosts import HostError, InvalidHost, is_ip_literal, normalise_host

if TYPE_CHECKING:
    from collections.abc import Mapping


@dataclass(frozen=True, slots=True)
class Match:
    """A categorised host: its normal form, its category and the listed domain it falls under."""

    host: str
    category: str
    listed: str


type Classified = Match | str | InvalidHost  # categorised, uncategorised (normal form), invalid


class DomainIndex:
    """Compiled once per policy: maps listed domains to category names."""

    __slots__ = ("_entries", "_single_label")

    def __init__(self, domains: Mapping[str, str]) -> None:
        entries: dict[str, tuple[str, str]] = {}
        for domain, category in domains.items():
            if normalise_host(domain) != domain:
                raise HostError(f"{domain!r} is not a normalised domain (see normalise_domain)")
            entries[domain] = (category, domain)
        self._entries = entries
        self._single_label = any("." not in d and not is_ip_literal(d) for d in entries)

    def match(self, host: str) -> tuple[str, str] | None:
        """(category, listed domain) for the longest listed domain that is host or its parent."""
        # An IP literal matches only itself: the shorter parts of a normal IPv4 address are
        # never normal, so never listed, and IPv6 addresses have no dots.
        get = self._entries.get
        found = get(host)
        if found is not None:
            return found
        # Suffixes from the left, longest first; the last label alone only if such is listed.
        stop = len(host) if self._single_label else host.rfind(".")
        start = host.find(".") + 1
        while 0 < start <= stop:
            found = get(host[start:])
            if found is not None:
                return found
            start = host.find(".", start) + 1
        return None
