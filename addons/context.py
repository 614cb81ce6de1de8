"""What Leeway's addons share: the current policy and the seams to the store.

The seams are the protocols of `addons.protocols`; `Who` and the per-flow record are in
`addons.who`, the Continues of unidentified clients in `addons.anonymous`.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from addons.anonymous import AnonymousAcknowledgements
from addons.page_templates import Templates, bundled
from addons.protocols import (
    AccessRequests,
    AcknowledgementRecorder,
    AddressLookup,
    Entitlements,
    NoAccessRequests,
    Nobody,
    NoSiblings,
    Observer,
    Siblings,
)
from addons.who import Who
from policy import Action, Policy, Subject
from policy.destinations import DestinationRules
from policy.subject import Acknowledgement

logger = logging.getLogger("leeway.entitlements")

DECISION_HEADER = "X-Leeway-Decision"
CONTINUE_PATH = "/.well-known/leeway/continue"

type Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass
class Leeway:
    """The running proxy's shared state. `policy` is swapped whole on a reload."""

    policy: Policy
    entitlements: Entitlements
    acknowledgements: AcknowledgementRecorder
    addresses: AddressLookup
    token_key: bytes
    intercept: bool = True
    trusted_header: str | None = None
    trusted_peers: tuple[Network, ...] = ()
    warn_without_intercept: Action = Action.BLOCK
    anonymous_acks: AnonymousAcknowledgements = field(default_factory=AnonymousAcknowledgements)
    observer: Observer = field(default_factory=Nobody)
    siblings: Siblings = field(default_factory=NoSiblings)
    # Where the proxy never forwards (its own host and ports, /metrics among them,
    # loopback, link-local, other ports).
    destinations: DestinationRules = field(default_factory=DestinationRules)
    # The pages' templates (an operator's over the bundled ones) and the access page's URL.
    templates: Templates = field(default_factory=bundled)
    # The host of the access page, which the proxy answers itself (normal form).
    portal_host: str = "leeway.internal"
    access_requests: AccessRequests = field(default_factory=NoAccessRequests)

    def is_portal(self, host: str) -> bool:
        """Whether `host` (as a request or a CONNECT names it) is the access page's."""
        if host == self.portal_host:
            return True
        # On every request: a name of another length is not the portal's, without more ado.
        extra = len(host) - len(self.portal_host)
        return extra in (0, 1) and host.lower().rstrip(".") == self.portal_host

    @property
    def portal_url(self) -> str:
        """The access page's address over plain HTTP (the pages use their own scheme's)."""
        return f"http://{self.portal_host}/"

    def known_subject(self, who: Who, host: str) -> Subject | None:
        """The entitlements of `who` without waiting, or None when they must be loaded
        (`subject_for`). Never raises."""
        if who.username is None:
            return self._anonymous(who)
        return self._cached(who.username, host)

    async def subject_for(self, who: Who, host: str) -> Subject:
        """The entitlements of `who`, asking for `host` (anonymous ones carry their
        in-memory Continues); `degraded` when the store could not be read. Never raises."""
        if who.username is None:
            return self._anonymous(who)
        cached = self._cached(who.username, host)
        if cached is not None:
            return cached
        try:
            return await self.entitlements.get(who.username)
        # The one guard of the boundary: the protocol says it never raises, and a broken
        # implementation must still leave the request decided, in the fail mode.
        except Exception as e:  # noqa: BLE001
            return _fail_mode(who.username, host, e)

    def _anonymous(self, who: Who) -> Subject:
        return Subject(None, acknowledgements=self.anonymous_acks.of(who.principal))

    def _cached(self, username: str, host: str) -> Subject | None:
        try:
            return self.entitlements.peek(username)
        except Exception as e:  # noqa: BLE001 - guarded as in `subject_for`
            return _fail_mode(username, host, e)

    def sibling_acknowledged(
        self, username: str | None, principal: str, ack: Acknowledgement, now: datetime
    ) -> None:
        """Honour a Continue made through another process of this proxy (already stored)."""
        if username is None:
            self.anonymous_acks.remember(principal, ack, now)
        else:
            self.entitlements.add_acknowledgement(username, ack)


def _fail_mode(username: str, host: str, error: Exception) -> Subject:
    ref = reference_id()
    logger.error(
        "ref %s: the entitlements of %r could not be read (request to %s): decided as"
        " a user with no training and no roles",
        ref,
        username,
        host,
        exc_info=error,
    )
    return Subject.anonymous(username, degraded=True)


def reference_id() -> str:
    """A short id that ties a page a person saw to the proxy's log line."""
    return secrets.token_hex(4).upper()
