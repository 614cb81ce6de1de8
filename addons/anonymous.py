"""The Continues of clients the proxy cannot identify: in memory only, keyed by address.

Nothing ties such a client to a person, so nothing is stored for it: its Continues last
as long as this process, or until they expire, and addresses that never come back do
not stay.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from policy.subject import Acknowledgement

# Unidentified client addresses whose Continues are kept (a busy office's guest network).
MAX_ANONYMOUS = 16_384


class AnonymousAcknowledgements:
    """Continues by principal (`addr:<client address>`): the latest one per category, for
    the addresses that clicked most recently (the dict is in click order)."""

    def __init__(self) -> None:
        self._by_principal: dict[str, list[Acknowledgement]] = {}

    def __len__(self) -> int:
        return len(self._by_principal)

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_principal)

    def __contains__(self, principal: object) -> bool:
        return principal in self._by_principal

    def of(self, principal: str) -> tuple[Acknowledgement, ...]:
        return tuple(self._by_principal.get(principal, ()))

    def remember(self, principal: str, ack: Acknowledgement, now: datetime) -> None:
        """Add `ack` in place of the principal's Continue of its category and of those
        expired by `now`; then forget the addresses that no longer count."""
        kept = self._by_principal.pop(principal, ())
        live = [a for a in kept if a.expires_at > now and a.category != ack.category]
        self._by_principal[principal] = [*live, ack]
        self._forget(now)

    def _forget(self, now: datetime) -> None:
        """Drop the addresses whose Continues have all expired, oldest click first, and
        the oldest beyond MAX_ANONYMOUS."""
        acks = self._by_principal
        while len(acks) > MAX_ANONYMOUS:
            del acks[next(iter(acks))]
        while acks:
            oldest = next(iter(acks))
            if any(a.expires_at > now for a in acks[oldest]):
                return
            del acks[oldest]
