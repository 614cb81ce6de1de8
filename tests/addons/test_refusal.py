"""Tests for addons.refusal: mitmproxy's own HTTP layer, driven with bytes, answers a
request refused in `requestheaders` before its body has come, and holds none of it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest
from mitmproxy import http, options, version
from mitmproxy.addons import proxyserver
from mitmproxy.proxy import commands, context, events, layers
from mitmproxy.proxy.layers import http as http_layers
from mitmproxy.proxy.layers.http import HTTPMode
from mitmproxy.proxy.layers.http._hooks import HttpRequestHeadersHook
from mitmproxy.test import tflow

from addons import refusal
from addons.respond import answer_plain
from addons.stream import Stream
from tests.addons.addon_context import addon_context

type Decide = Callable[[http.HTTPFlow], None]


@pytest.fixture
def proxy_options() -> Iterator[options.Options]:
    """The options of a proxy with AnswerAtOnce installed."""
    assert refusal.install()
    try:
        with addon_context(proxyserver.Proxyserver(), options=options.Options()) as tctx:
            yield tctx.options
    finally:
        refusal.uninstall()


class Connection:
    """One client connection into mitmproxy's HttpLayer (regular proxy mode): bytes in,
    the bytes it sends back out; every hook completes at once, `decide` runs in
    requestheaders."""

    def __init__(self, proxy_options: options.Options, decide: Decide) -> None:
        self.decide = decide
        self.sent = b""
        self.flows: list[http.HTTPFlow] = []
        self.client = tflow.tclient_conn()
        ctx = context.Context(self.client, proxy_options)
        self.layer = layers.HttpLayer(ctx, HTTPMode.regular)
        ctx.layers = [self.layer]
        self._feed(events.Start())

    def send(self, data: bytes) -> bytes:
        """Feed `data` from the client; what the proxy sent back meanwhile."""
        before = len(self.sent)
        self._feed(events.DataReceived(self.client, data))
        return self.sent[before:]

    def _feed(self, event: events.Event) -> None:
        pending = [event]
        while pending:
            for command in self.layer.handle_event(pending.pop(0)):
                if isinstance(command, commands.SendData):
                    self.sent += command.data
                elif isinstance(command, commands.StartHook):
                    if isinstance(command, HttpRequestHeadersHook):
                        self.flows.append(command.flow)
                        self.decide(command.flow)
                    pending.append(events.HookCompleted(command))


def refuse(flow: http.HTTPFlow) -> None:
    if flow.request.method == "POST":
        answer_plain(flow, 403, "Posting is blocked.", "ref")


UPLOAD = b"POST http://example.com/up HTTP/1.1\r\nHost: example.com\r\n"
NEXT = b"POST http://example.com/next HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\n\r\n"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_refused_upload_is_answered_before_its_body_and_none_of_it_is_kept(
    proxy_options: options.Options, chunked: bool
) -> None:
    conn = Connection(proxy_options, refuse)
    framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: 3000000"
    answer = conn.send(UPLOAD + framing + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert b"connection: close" not in answer.lower()
    for _ in range(3):
        chunk = b"x" * 1_000_000
        assert conn.send(b"f4240\r\n%s\r\n" % chunk if chunked else chunk) == b""
    if chunked:
        conn.send(b"0\r\n\r\n")
    [flow] = conn.flows
    assert flow.request.raw_content is None, "the body was kept"
    assert conn.layer.streams == {}
    # The body's framing was read to its end: the next request is a request.
    assert conn.send(NEXT).startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert [f.request.path for f in conn.flows] == ["/up", "/next"]


def test_a_refused_upload_waiting_for_100_continue_gets_the_answer_instead(
    proxy_options: options.Options,
) -> None:
    conn = Connection(proxy_options, refuse)
    answer = conn.send(UPLOAD + b"Content-Length: 3000000\r\nExpect: 100-continue\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 403 Forbidden\r\n"), "a 100 Continue was sent"
    assert b"\r\nConnection: close\r\n" in answer


def test_a_request_let_through_is_not_answered_early(proxy_options: options.Options) -> None:
    conn = Connection(proxy_options, lambda flow: None)
    assert conn.send(UPLOAD + b"Content-Length: 10\r\n\r\n12345") == b""


def test_install_replaces_the_stream_class_and_uninstall_restores_it() -> None:
    original = http_layers.HttpStream
    Stream().running()
    try:
        assert http_layers.HttpStream is refusal.AnswerAtOnce
    finally:
        Stream().done()
    assert http_layers.HttpStream is original


def test_another_mitmproxy_is_left_alone_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(version, "VERSION", "13.0.0")
    with caplog.at_level(logging.WARNING, logger="leeway.refusal"):
        assert refusal.install() is False
    assert http_layers.HttpStream is not refusal.AnswerAtOnce
    assert "mitmproxy 13.0.0 is not 12.2.3" in caplog.text
