"""What the access page's tests share: requests kept in memory, and flows to the portal."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from mitmproxy import http

from addons import tokens
from addons.portal import Portal
from addons.protocols import RecordsUnavailable, RequestRefused
from addons.who import METADATA_KEY, FlowNotes, Who
from tests.addons.fakes import CLIENT, KEY, PUBLISHER, TRAINED, make_leeway, request_flow
from tests.policy.samples import NOW

PORTAL = "leeway.internal"
SUBJECTS = {"tess": TRAINED, "pat": PUBLISHER}
LIFETIME = tokens.DEFAULT_LIFETIME


@dataclass(frozen=True, slots=True)
class Kept:
    """A request as the store keeps it (the fields of `RequestRecord`)."""

    id: int
    username: str
    category: str
    role: str
    justification: str
    state: str
    requested_at: datetime
    decided_at: datetime | None = None
    decision_reason: str | None = None


class MemoryRequests:
    """`AccessRequests` in memory: one pending request per person, category and role.
    `down`: the store cannot be reached; `refuse`: it refuses every ask with that."""

    def __init__(self) -> None:
        self.kept: list[Kept] = []
        self.down = False
        self.refuse: str | None = None

    async def of(self, username: str) -> list[Kept]:
        if self.down:
            raise RecordsUnavailable("database sqlite:// is unavailable: disk I/O error")
        return [r for r in reversed(self.kept) if r.username == username]

    async def ask(
        self, username: str, category: str, role: str, justification: str, now: datetime
    ) -> tuple[bool, Kept]:
        if self.down:
            raise RecordsUnavailable("database sqlite:// is unavailable: disk I/O error")
        if self.refuse is not None:
            raise RequestRefused(self.refuse)
        for kept in self.kept:
            if (kept.username, kept.category, kept.role, kept.state) == (
                username, category, role, "pending",
            ):  # fmt: skip
                return False, kept
        kept = Kept(len(self.kept) + 1, username, category, role, justification, "pending", now)
        self.kept.append(kept)
        return True, kept

    def decide(self, number: int, state: str, reason: str | None = None) -> None:
        index = number - 1
        self.kept[index] = replace(
            self.kept[index], state=state, decided_at=NOW, decision_reason=reason
        )


def portal(requests: MemoryRequests | None = None) -> Portal:
    leeway = make_leeway(SUBJECTS)
    if requests is not None:
        leeway.access_requests = requests
    return Portal(leeway, now=lambda: NOW)


def as_user(flow: http.HTTPFlow, user: str | None, via: str = "proxyauth") -> http.HTTPFlow:
    if user is not None:
        flow.metadata[METADATA_KEY] = FlowNotes(Who(user, via, CLIENT))
    return flow


def visit(
    addon: Portal,
    path: str = "/",
    *,
    user: str | None = None,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    content: bytes = b"",
) -> http.HTTPFlow:
    """A request to the portal through `addon`'s hooks, as mitmproxy calls them."""
    flow = as_user(
        request_flow(PORTAL, method=method, path=path, headers=headers, content=content), user
    )
    run(addon.requestheaders(flow))
    if flow.response is None:
        run(addon.request(flow))
    return flow


def run(hook: Awaitable[None] | None) -> None:
    if hook is not None:

        async def wait() -> None:
            await hook

        asyncio.run(wait())


def status(flow: http.HTTPFlow) -> int:
    assert flow.response is not None, "the portal let a request through"
    return flow.response.status_code


def text(flow: http.HTTPFlow) -> str:
    assert flow.response is not None
    return flow.response.get_text() or ""


def document(flow: http.HTTPFlow) -> dict[str, Any]:
    assert flow.response is not None
    assert flow.response.headers["Content-Type"] == "application/json"
    parsed: dict[str, Any] = json.loads(flow.response.get_content() or b"")
    return parsed


def request_token(user: str, host: str = PORTAL, category: str = "social") -> str:
    return tokens.issue_request(
        KEY, principal=user, category=category, host=host, now=NOW, lifetime=LIFETIME
    )


def form(**fields: str) -> bytes:
    return urlencode(fields).encode()


FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Accept": "application/json"}
