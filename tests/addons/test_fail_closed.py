"""Where a part of the chain raises and a flow could go on undecided, it is refused."""

from __future__ import annotations

import pytest
from mitmproxy import exceptions, http, options, tls
from mitmproxy.proxy import context, server_hooks
from mitmproxy.test import tflow

from addons.chain import Chain
from tests.addons.test_chain import dispatch


class Raising:
    """Raises in the hook it is given, after doing what `before` does."""

    def __init__(self, hook: str, before: object = None) -> None:
        def fail(arg: object) -> None:
            if callable(before):
                before(arg)
            raise RuntimeError(f"{hook} broke")

        setattr(self, hook, fail)


class Later:
    """A part after the failing one that would let the flow through."""

    def __init__(self, hook: str) -> None:
        self.called = False

        def let_through(arg: object) -> None:
            self.called = True

        setattr(self, hook, let_through)


def refused(hook: str, arg: object, before: object = None) -> Later:
    later = Later(hook)
    errors: list[str] = []
    dispatch(Chain(Raising(hook, before), later, on_error=errors.append), hook, arg)
    assert errors == [hook]
    return later


@pytest.mark.parametrize("hook", ["http_connect", "requestheaders", "request"])
def test_a_request_hook_answers_503(hook: str) -> None:
    flow = tflow.tflow()
    later = refused(hook, flow)
    assert flow.response is not None and flow.response.status_code == 503
    assert "Leeway could not check this request. Reference " in (flow.response.text or "")
    assert not later.called


def test_a_client_hello_is_intercepted_not_passed_through() -> None:
    connection = context.Context(tflow.tclient_conn(), options.Options())
    hello = tls.ClientHelloData(connection, None)  # type: ignore[arg-type]  # not parsed

    def passthrough(data: tls.ClientHelloData) -> None:
        data.ignore_connection = True

    refused("tls_clienthello", hello, before=passthrough)
    assert hello.ignore_connection is False


def test_a_server_connection_is_refused() -> None:
    data = server_hooks.ServerConnectionHookData(tflow.tserver_conn(), tflow.tclient_conn())
    refused("server_connect", data)
    assert data.server.error is not None and "could not check" in data.server.error


def test_a_dns_request_is_killed() -> None:
    flow = tflow.tdnsflow()
    refused("dns_request", flow)
    assert flow.error is not None and flow.error.msg == flow.error.KILLED_MESSAGE


def test_a_websocket_message_is_dropped() -> None:
    flow = tflow.twebsocketflow()
    assert isinstance(flow, http.HTTPFlow) and flow.websocket is not None
    refused("websocket_message", flow)
    assert flow.websocket.messages[-1].dropped


def test_mitmproxy_control_flow_is_passed_on() -> None:
    class BadOption:
        def configure(self, updated: set[str]) -> None:
            raise exceptions.OptionsError("bad value")

    class Halting:
        def request(self, flow: http.HTTPFlow) -> None:
            raise exceptions.AddonHalt

    with pytest.raises(exceptions.OptionsError, match="bad value"):
        dispatch(Chain(BadOption()), "configure", set())
    later = Later("request")
    with pytest.raises(exceptions.AddonHalt):
        dispatch(Chain(Halting(), later), "request", tflow.tflow())
    assert not later.called
