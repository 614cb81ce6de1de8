"""Reading an LRS's statements resource (xAPI 1.0.3) page by page, following `more` links.

The password never appears in a message: errors name the URL, the user and the status.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

import httpx

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import datetime

XAPI_VERSION = "1.0.3"
PAGE_LIMIT = 1000  # statements asked for per page; the LRS may return fewer
TIMEOUT = 30.0  # seconds: a development LRS answers a large page slowly


class LrsUnavailable(Exception):
    """The LRS could not be reached or failed (5xx): worth trying again later."""


class LrsRefused(Exception):
    """The LRS refused us (bad credentials, no such resource): trying again will not help."""


@dataclass(slots=True)
class Page:
    statements: list[Any]
    more: str | None  # absolute URL of the next page
    waited: float  # seconds spent waiting for the LRS


@dataclass(slots=True)
class LrsClient:
    """The statements resource at `url` (`.../xAPI`; `/statements` is appended)."""

    url: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    limit: int = PAGE_LIMIT
    http: httpx.Client = field(init=False, repr=False)

    def __post_init__(self) -> None:
        auth = httpx.BasicAuth(self.user, self.password or "") if self.user is not None else None
        self.http = httpx.Client(
            auth=auth,
            timeout=TIMEOUT,
            headers={"X-Experience-API-Version": XAPI_VERSION},
            trust_env=False,  # never through an HTTP proxy from the environment (maybe us)
        )

    @property
    def statements_url(self) -> str:
        return self.url.rstrip("/") + "/statements"

    def pages(self, since: datetime | None) -> Iterator[Page]:
        """Pages of statements stored after `since`, oldest first, until `more` runs out."""
        params: dict[str, str] = {"ascending": "true", "limit": str(self.limit)}
        if since is not None:
            params["since"] = since.isoformat()
        url: str | None = self.statements_url
        query: dict[str, str] | None = params
        while url is not None:
            page = self._get(url, query)
            query = None  # a `more` link carries its own query (httpx would replace it)
            yield page
            if page.more == url:
                raise LrsUnavailable(f"LRS {self.url}: `more` points at the same page again")
            url = page.more

    def _get(self, url: str, params: dict[str, str] | None) -> Page:
        started = time.perf_counter()
        try:
            response = self.http.get(url, params=params)
        except httpx.HTTPError as e:
            raise LrsUnavailable(f"LRS {self.url} is unreachable: {_reason(e)}") from None
        waited = time.perf_counter() - started
        self._check(response)
        try:
            document = response.json()
            statements = document["statements"]
            more = document.get("more") or None
        except (ValueError, KeyError, TypeError):
            raise LrsUnavailable(
                f"LRS {self.url}: GET {response.url.path} did not answer a statement result"
                f" (HTTP {response.status_code}, {response.headers.get('content-type')})"
            ) from None
        if not isinstance(statements, list) or not (more is None or isinstance(more, str)):
            raise LrsUnavailable(f"LRS {self.url}: the statement result has the wrong shape")
        # `more` is relative to the LRS's root (xAPI 1.0.3, part three, 2.1.2).
        return Page(statements, urljoin(str(response.url), more) if more else None, waited)

    def _check(self, response: httpx.Response) -> None:
        status = response.status_code
        if status in (401, 403):
            who = f"user {self.user!r}" if self.user is not None else "no credentials"
            raise LrsRefused(
                f"LRS {self.url} refused {who} (HTTP {status}):"
                " check --lrs-user and the password (--lrs-password-file or LEEWAY_LRS_PASSWORD)"
            )
        if status >= 500 or status == 429:
            raise LrsUnavailable(f"LRS {self.url} failed: HTTP {status}")
        if status >= 400:
            raise LrsRefused(
                f"LRS {self.url}: GET {response.url.path} answered HTTP {status}:"
                f" {response.text[:200]!r} (is {self.url} the xAPI endpoint?)"
            )

    def close(self) -> None:
        self.http.close()


def _reason(error: httpx.HTTPError) -> str:
    return str(error) or type(error).__name__
