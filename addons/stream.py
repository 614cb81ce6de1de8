"""Stream large bodies (video, uploads) instead of holding them whole, for what goes through.

mitmproxy's own `stream_large_bodies` also starts streaming a body halfway through
buffering it, and that crashes the connection when the request was already answered (a
refused upload: mitmproxy cannot answer a request and stream it on at once). So Leeway
leaves that option off and decides from the headers, after its own decision: a body over
`STREAM_ABOVE`, or of unknown size, streams, unless Leeway answered the request itself;
then `addons.refusal` sends the answer at once and drops the body as it arrives.
"""

from __future__ import annotations

from mitmproxy import http
from mitmproxy.net.http.http1 import expected_http_body_size

from addons import refusal
from addons.acknowledge import is_continue

STREAM_ABOVE = 1024 * 1024  # bytes


def should_stream(request: http.Request, response: http.Response | None = None) -> bool:
    """Whether the body of `request` (or of `response`) is large or of unknown size."""
    message = request if response is None else response
    if announced_small(message.headers, request=response is None):
        return False
    try:
        size = expected_http_body_size(request, response)
    except ValueError:  # a malformed length: mitmproxy refuses the message itself
        return False
    # None: chunked; -1: until the connection closes; 0: no body at all.
    return size is None or size < 0 or size > STREAM_ABOVE


def announced_small(headers: http.Headers, *, request: bool) -> bool:
    """Whether the headers alone show a body of at most `STREAM_ABOVE`: one Content-Length
    that small and no Transfer-Encoding, or, on a request, neither (no body). The common
    case, read in one pass over the fields; anything else is left to mitmproxy's reading
    of the framing, which also knows the answers that never have a body."""
    length = None
    for name, value in headers.fields:
        name = name.lower()
        if name == b"transfer-encoding":
            return False
        if name == b"content-length":
            if length is not None or not value.isdigit() or len(value) > 18:
                return False
            length = int(value)
    return request if length is None else length <= STREAM_ABOVE


class Stream:
    def running(self) -> None:
        refusal.install()

    def done(self) -> None:
        refusal.uninstall()

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        # Answered requests are answered at once (addons.refusal); Continue forms we read.
        if flow.response or flow.error or not flow.live or is_continue(flow):
            return
        if should_stream(flow.request):
            flow.request.stream = True

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None and should_stream(flow.request, flow.response):
            flow.response.stream = True
