"""Access requests for the proxy's access page: read and written in a worker thread.

The event loop never waits on the database: each call runs in the default executor, in a
session of its own, and a store outage becomes the addons' `RecordsUnavailable`.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from addons.protocols import RecordsUnavailable, RequestRefused
from proxy.store.access_requests import RequestError, RequestView, ask, requests_of
from proxy.store.db import StoreUnavailable, session_factory, store_errors

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.engine import Engine


class StoredAccessRequests:
    """`addons.protocols.AccessRequests` on the SQLAlchemy store."""

    def __init__(self, engine: Engine) -> None:
        self._url = engine.url
        self._sessions = session_factory(engine)

    async def of(self, username: str) -> list[RequestView]:
        return await asyncio.to_thread(self._of, username)

    async def ask(
        self, username: str, category: str, role: str, justification: str, now: datetime
    ) -> tuple[bool, RequestView]:
        return await asyncio.to_thread(self._ask, username, category, role, justification, now)

    def _of(self, username: str) -> list[RequestView]:
        try:
            with store_errors(self._url), self._sessions() as session:
                return requests_of(session, username)
        except StoreUnavailable as e:
            raise RecordsUnavailable(str(e)) from e

    def _ask(
        self, username: str, category: str, role: str, justification: str, now: datetime
    ) -> tuple[bool, RequestView]:
        try:
            with store_errors(self._url), self._sessions.begin() as session:
                asked = ask(
                    session,
                    username=username,
                    category=category,
                    role=role,
                    justification=justification,
                    now=now,
                )
        except StoreUnavailable as e:
            raise RecordsUnavailable(str(e)) from e
        except RequestError as e:
            raise RequestRefused(str(e)) from e
        return asked.created, asked.request
