"""Forms posted to the proxy itself (a Continue, a request for access): their size is
checked from the headers, so a body too large is refused before it streams."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mitmproxy.net.http.http1 import expected_http_body_size

if TYPE_CHECKING:
    from mitmproxy import http


def small_form(request: http.Request, limit: int) -> bool:
    """Whether the body is declared, and no larger than `limit`."""
    try:
        size = expected_http_body_size(request)
    except ValueError:
        return False
    return size is not None and 0 <= size <= limit
