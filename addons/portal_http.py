"""How the access page answers: personal data that no cache keeps and no other site reads.

No CORS headers, ever; `Cross-Origin-Resource-Policy: same-origin`; never sniffed; never
framed; JSON only for a client that asks for it explicitly.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from mitmproxy import http

from addons.context import Leeway

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
HEADERS: tuple[tuple[str, str], ...] = (
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    # Its own forms need an Origin (`no-referrer` would send `Origin: null`); no other
    # site is told where the person came from.
    ("Referrer-Policy", "same-origin"),
    ("Content-Security-Policy", CSP),
    ("Vary", "Accept, Origin"),
)


class CrossSite:
    """A request that a browser says comes from another site, or from an opaque origin."""


CROSS_SITE = CrossSite()


def wants_json(accept: str) -> bool:
    """Whether the client asks for JSON explicitly (and not for HTML): a browser's page
    load, which accepts `*/*` among others, gets the page."""
    types = {part.partition(";")[0].strip().lower() for part in accept.split(",")}
    return "application/json" in types and "text/html" not in types


def origin_host(headers: http.Headers) -> str | CrossSite | None:
    """The host of the `Origin` the browser names; `CROSS_SITE` for `null` or a browser
    that says cross-site without naming one; None when no browser speaks (a script)."""
    origin = headers.get("origin")
    if origin is None:
        site = headers.get("sec-fetch-site")
        return None if site in (None, "same-origin", "none") else CROSS_SITE
    try:
        host = urlsplit(origin.strip()).hostname
    except ValueError:
        return CROSS_SITE
    return host.rstrip(".") if host else CROSS_SITE


def portal_base(leeway: Leeway, flow: http.HTTPFlow) -> str:
    """The access page's address, in the scheme of this request (a page over HTTPS posts
    its forms over HTTPS: browsers warn of a form sent in the clear)."""
    return f"{flow.request.scheme}://{leeway.portal_host}/"


def answer(flow: http.HTTPFlow, status: int, body: bytes, content_type: str) -> None:
    headers = {**dict(HEADERS), "Content-Type": content_type}
    if flow.request.method.upper() == "HEAD":
        body = b""
    flow.request.stream = False
    flow.response = http.Response.make(status, body, headers)


def answer_page(
    leeway: Leeway, flow: http.HTTPFlow, code: int, template: str, /, **context: object
) -> None:
    """The page `template` with `context` (and `portal_url`), answered with status `code`."""
    page = leeway.templates.render(template, portal_url=portal_base(leeway, flow), **context)
    answer(flow, code, page.encode(), "text/html; charset=utf-8")


def answer_json(flow: http.HTTPFlow, status: int, document: object) -> None:
    body = json.dumps(document, ensure_ascii=False, indent=1).encode()
    answer(flow, status, body, "application/json")
