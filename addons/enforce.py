"""Decide every request to a categorised site and enforce the decision.

Runs in `requestheaders`, before any body moves: a request is let through, answered
with the warning page, the block page or a short 403, or refused with 421 when it
arrived on a connection opened for a name that is decided more strictly.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from mitmproxy import http

from addons.acknowledge import is_continue
from addons.context import DECISION_HEADER, Leeway, reference_id
from addons.respond import answer_decision, answer_plain, describe
from addons.who import FlowNotes, Who, notes_of
from policy import Action, Decision, Reason, Request, Subject
from policy.decision import OVERRIDE_HEADERS


def request_names(flow: http.HTTPFlow) -> tuple[str, ...]:
    """The names the request itself carries: its Host header and its authority (HTTP/2
    `:authority`, or the absolute URL an HTTP/1 request may name inside a tunnel, which a
    server reads instead of Host). Both are decided: either may be what the site uses.
    They are given as sent, port and all: the engine parses and remembers them."""
    request = flow.request
    authority, host = request.authority, request.headers.get("host")
    if authority and host and authority != host:
        return (authority, host)
    value = authority or host
    return (value,) if value else (request.host,)


_OVERRIDE_FIELDS = frozenset(name.encode() for name in OVERRIDE_HEADERS)
_OVERRIDE_LENGTHS = frozenset(len(name) for name in _OVERRIDE_FIELDS)


def method_overrides(headers: http.Headers) -> tuple[tuple[str, str], ...]:
    """The (name, value) of each method override header, in one pass over the raw
    fields: most requests carry none, and a look-up per name through the
    case-insensitive mapping would scan the fields three times. The headers stay: a site
    that honours them must see what was decided."""
    found: tuple[tuple[str, str], ...] = ()
    for name, value in headers.fields:
        if len(name) in _OVERRIDE_LENGTHS and name.lower() in _OVERRIDE_FIELDS:
            pair = (name.decode("latin-1"), value.decode("latin-1"))
            found = (*found, pair)
    return found


def request_facts(flow: http.HTTPFlow, hosts: tuple[str, ...]) -> Request:
    """The request's facts for the engine, for the names `hosts`."""
    request = flow.request
    return Request(request.method, hosts, method_overrides(request.headers))


def connection_names(flow: http.HTTPFlow, decided: tuple[str, ...]) -> tuple[str, ...]:
    """The names the connection was opened for (TLS SNI, CONNECT target) not in `decided`."""
    names = [flow.client_conn.sni, flow.request.host]
    return tuple(dict.fromkeys(n for n in names if n and n not in decided))


class Enforce:
    def __init__(self, leeway: Leeway, now: Callable[[], datetime] | None = None) -> None:
        self.leeway = leeway
        self.now = now or (lambda: datetime.now(UTC))

    def requestheaders(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        # Synchronous when the sender's entitlements are cached, as they nearly always
        # are: a coroutine per request is a cost the chain would await.
        if flow.response or flow.error or not flow.live or is_continue(flow):
            return None
        if self.leeway.is_portal(flow.request.host):  # Portal answers it (a POST: with its body)
            return None
        notes = notes_of(flow)
        subject = self.leeway.known_subject(notes.who, flow.request.host)
        if subject is None:
            return self._load_and_decide(flow, notes)
        self._decide(flow, notes, subject)
        return None

    async def _load_and_decide(self, flow: http.HTTPFlow, notes: FlowNotes) -> None:
        self._decide(flow, notes, await self.leeway.subject_for(notes.who, flow.request.host))

    def _decide(self, flow: http.HTTPFlow, notes: FlowNotes, subject: Subject) -> None:
        now = self.now()
        started = time.perf_counter()
        hosts = request_names(flow)
        facts = request_facts(flow, hosts)
        decision = self.leeway.policy.decide(subject, facts, now)
        stricter = self._stricter_connection(flow, hosts, facts, subject, now, decision)
        seconds = time.perf_counter() - started
        self.leeway.observer.decided(stricter or decision, notes.who, subject, seconds, now)
        if stricter is not None:
            answer_plain(flow, 421, "This connection was opened for another site.", reference_id())
            return
        notes.decision = decision
        self._enforce(flow, decision, notes.who)

    def _stricter_connection(
        self,
        flow: http.HTTPFlow,
        hosts: tuple[str, ...],
        facts: Request,
        subject: Subject,
        now: datetime,
        decision: Decision,
    ) -> Decision | None:
        """The decision on the names the connection was opened for, when it is stricter
        than `decision` on the names the request carries (then the request gets 421)."""
        policy = self.leeway.policy
        # Compared in normal form: a name decided alike need not be decided again.
        decided = (decision.host,) if len(hosts) == 1 else tuple(map(policy.normal_form, hosts))
        names = connection_names(flow, decided)
        if not names:
            return None
        opened_for = policy.decide(subject, Request(facts.method, names, facts.overrides), now)
        return opened_for if opened_for.action.severity > decision.action.severity else None

    def _enforce(self, flow: http.HTTPFlow, decision: Decision, who: Who) -> None:
        if decision.reason is Reason.INVALID_HOST:
            answer_plain(flow, 400, "Bad request: the host name is not valid.", reference_id())
        elif decision.action is not Action.ALLOW or decision.interstitial:
            answer_decision(flow, decision, who, self.leeway, self.now())
        if flow.response is not None:
            flow.response.headers[DECISION_HEADER] = describe(decision)
