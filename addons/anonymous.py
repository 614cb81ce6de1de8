"""The Continues of clients the proxy cannot identify: in memory only, keyed by address.

Nothing ties such a client to a person, so nothing is stored for it: its Continues last
as long as this process, or until they expire.
"""

from __future__ import annotations

from datetime import datetime

from policy.subject import Acknowledgement


class AnonymousAcknowledgements:
    """Continues by principal (`addr:<client address>`), each kept until it expires."""

    def __init__(self) -> None:
        self._by_principal: dict[str, list[Acknowledgement]] = {}

    def __len__(self) -> int:
        return len(self._by_principal)

    def of(self, principal: str) -> tuple[Acknowledgement, ...]:
        return tuple(self._by_principal.get(principal, ()))

    def remember(self, principal: str, ack: Acknowledgement, now: datetime) -> None:
        """Add `ack`, dropping the principal's Continues that expired by `now`."""
        kept = [a for a in self._by_principal.get(principal, ()) if a.expires_at > now]
        self._by_principal[principal] = [*kept, ack]
