"""Answer a request refused in `requestheaders` at once, and drop its body as it arrives.

mitmproxy 12.2.3 reads the whole body of a request that an addon answered in
`requestheaders` into memory before it sends the answer (`HttpStream` moves on to
`state_consume_request_body`), and cannot stream a body on while answering it
(`start_request_stream` raises NotImplementedError). So a person blocked from posting
who uploads 64 MiB cost the proxy 64 MiB, and heard "no" only after sending it all.

`AnswerAtOnce` is mitmproxy's `HttpStream` with one change: such a request goes through
the `request`, `responseheaders` and `response` hooks as an answered request would, its
answer is sent straight away and the stream is finished. The rest of the body then
arrives for a finished stream, which mitmproxy's `HttpLayer` drops chunk by chunk (it
does so for any late data, mitmproxy issue 5343): HTTP/1 still reads the body's framing
to its end, so the connection serves the next request, and HTTP/2 still credits the flow
control window. A client that waits for `100 Continue` gets the answer instead (the
answer helpers drop the `Expect` header, so mitmproxy sends no 100) and is told the
connection closes: it will not send the body the server would otherwise wait for.
"""

from __future__ import annotations

import logging
import time

from mitmproxy import flow, version
from mitmproxy.proxy import layer
from mitmproxy.proxy.layers import http as http_layers
from mitmproxy.proxy.layers.http import HttpStream
from mitmproxy.proxy.layers.http._events import RequestHeaders
from mitmproxy.proxy.layers.http._hooks import HttpRequestHook, HttpResponseHeadersHook

logger = logging.getLogger("leeway.refusal")

# The version whose HttpStream this module was written against (pyproject pins it).
CHECKED_VERSION = "12.2.3"
_ORIGINAL = HttpStream


class AnswerAtOnce(HttpStream):
    def state_wait_for_request_headers(self, event: RequestHeaders) -> layer.CommandGenerator[None]:
        yield from super().state_wait_for_request_headers(event)
        answered_before_body = (
            self.flow.response is not None
            and not event.end_stream
            and self.client_state == self.state_consume_request_body
        )
        if answered_before_body:
            yield from self._answer_at_once()

    def _answer_at_once(self) -> layer.CommandGenerator[None]:
        self.client_state = self.state_drop_request_body
        yield HttpRequestHook(self.flow)
        response = self.flow.response
        if response is None:  # an addon took the answer back, but the body is gone
            self.flow.error = flow.Error(flow.Error.KILLED_MESSAGE)
        if (yield from self.check_killed(True)) or response is None:
            return
        response.timestamp_start = time.time()
        yield HttpResponseHeadersHook(self.flow)
        if (yield from self.check_killed(True)):
            return
        yield from self.send_response()
        if self.server_state == self.state_done:  # not killed in the response hook
            yield from self.flow_done()

    def state_drop_request_body(self, _event: object) -> layer.CommandGenerator[None]:
        # Body events that came in while the hooks ran; later ones never reach a
        # finished stream.
        yield from ()


def install() -> bool:
    """Make mitmproxy's HTTP layers build `AnswerAtOnce` streams; False (and a warning)
    on a mitmproxy other than the one this was checked against: refused uploads are then
    read whole before they are answered, as mitmproxy does."""
    if version.VERSION != CHECKED_VERSION:
        logger.warning(
            "mitmproxy %s is not %s: refused uploads are buffered whole before the answer",
            version.VERSION,
            CHECKED_VERSION,
        )
        return False
    # HttpLayer.make_stream looks the class up in its module on every new stream.
    http_layers.HttpStream = AnswerAtOnce  # type: ignore[misc]  # replacing the class is the point
    return True


def uninstall() -> None:
    http_layers.HttpStream = _ORIGINAL  # type: ignore[misc]
