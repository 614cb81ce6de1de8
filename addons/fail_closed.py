"""What failing closed means for each hook where a flow could go on undecided.

The chain (`addons.chain`) calls these when one of its parts raises in such a hook:
the flow is refused, never let through unenforced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mitmproxy import flow, http, tls
from mitmproxy.proxy import server_hooks

from addons.respond import answer_plain


def refuse_request(request: http.HTTPFlow, reference: str) -> str:
    answer_plain(request, 503, "Leeway could not check this request.", reference)
    return "answered 503"


def intercept(data: tls.ClientHelloData, reference: str) -> str:
    # Passing through is the unenforced direction: an intercepted connection is decided.
    data.ignore_connection = False
    return "connection intercepted, not passed through"


def refuse_connection(data: server_hooks.ServerConnectionHookData, reference: str) -> str:
    data.server.error = f"Leeway could not check this connection (reference {reference})"
    return "server connection refused"


def kill(killed: flow.Flow, reference: str) -> str:
    if killed.killable:
        killed.kill()  # type: ignore[no-untyped-call]  # untyped in mitmproxy
    return "flow killed"


def drop_message(message: http.HTTPFlow, reference: str) -> str:
    if message.websocket is not None and message.websocket.messages:
        message.websocket.messages[-1].dropped = True
    return "message dropped"


# What failing closed means for each hook where a flow could go on undecided. The other
# hooks (responses, errors, lifecycle, ...) log, count and carry on with the next part.
# tcp_message and udp_message have no refusal that mitmproxy honours (the TCP layer
# ignores a kill); no part of Leeway handles raw TCP or UDP.
FAIL_CLOSED: dict[str, Callable[[Any, str], str]] = {
    "http_connect": refuse_request,
    "requestheaders": refuse_request,
    "request": refuse_request,
    "tls_clienthello": intercept,
    "server_connect": refuse_connection,
    "dns_request": kill,
    "websocket_message": drop_message,
}
