"""Usage per category: the bytes each categorised request moved, up and down.

Reported through the `Observer` protocol (see `addons.protocols`), never per person. Only
what went to the site and came back counts: Leeway's own answers (a warning page, a
refusal) are not usage, so this addon must come after the ones that answer.
"""

from __future__ import annotations

from mitmproxy import http

from addons.protocols import Observer
from addons.who import METADATA_KEY, FlowNotes


def body_size(message: http.Message) -> int:
    """Bytes of a body, also when it was streamed (then the announced length)."""
    if message.raw_content is not None:
        return len(message.raw_content)
    announced = message.headers.get("content-length", "")
    return int(announced) if announced.isdigit() else 0


class Usage:
    """Counts the bytes each categorised request moved, up and down."""

    def __init__(self, observer: Observer) -> None:
        self.observer = observer

    def request(self, flow: http.HTTPFlow) -> None:
        # Every earlier addon has had its request hooks: a response now is Leeway's own.
        if flow.response is not None:
            notes: FlowNotes | None = flow.metadata.get(METADATA_KEY)
            if notes is not None:
                notes.answered = True

    def response(self, flow: http.HTTPFlow) -> None:
        notes: FlowNotes | None = flow.metadata.get(METADATA_KEY)
        if notes is None or flow.response is None or notes.answered:
            return
        decision = notes.decision
        if decision is None or decision.category is None:
            return
        self.observer.transferred(decision.category, "up", body_size(flow.request))
        self.observer.transferred(decision.category, "down", body_size(flow.response))
