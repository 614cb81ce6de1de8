"""The chain forwards every hook its parts define, in order, and contains their errors."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from mitmproxy import hooks, http
from mitmproxy.proxy.layers import http as http_layer
from mitmproxy.test import tflow
from prometheus_client import CollectorRegistry

from addons.chain import SYNC_ONLY, UNFORWARDABLE, Chain
from addons.enforce import Enforce
from proxy.metrics.proxy_metrics import Metrics
from tests.addons.addon_context import addon_context
from tests.addons.fakes import make_leeway, request_flow

FORWARDED = sorted(hooks.all_hooks.keys() - UNFORWARDABLE)


class Part:
    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    def running(self) -> None:
        self.log.append(f"{self.name}.running")

    def response(self, flow: http.HTTPFlow) -> None:
        self.log.append(f"{self.name}.response")


class AsyncPart(Part):
    async def requestheaders(self, flow: http.HTTPFlow) -> None:
        await asyncio.sleep(0)
        self.log.append(f"{self.name}.requestheaders")
        flow.response = http.Response.make(403)


class GuardedPart(Part):
    def requestheaders(self, flow: http.HTTPFlow) -> None:
        self.log.append(f"{self.name}.sees-response={flow.response is not None}")


class Raising(Part):
    """Raises in every hook it has."""

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        raise KeyError("no such header")

    def response(self, flow: http.HTTPFlow) -> None:
        raise KeyError("no such header")


def event(name: str, *args: object) -> hooks.Hook:
    """mitmproxy's event for hook `name`, with `args` or placeholders for its fields."""
    cls = hooks.all_hooks[name]
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]  # each hook is a dataclass
    return cls(*(args or [object() for _ in fields]))


def dispatch(chain: Chain, name: str, *args: object) -> None:
    """Send event `name` to the chain as mitmproxy's addon manager does."""
    with addon_context(loadcore=False) as tctx:
        manager = tctx.master.addons
        if name in SYNC_ONLY:
            manager.invoke_addon_sync(chain, event(name, *args))
        else:
            tctx.master.event_loop.run_until_complete(
                manager.invoke_addon(chain, event(name, *args))
            )


def test_hooks_run_in_order_and_async_ones_are_awaited() -> None:
    log: list[str] = []
    chain = Chain(AsyncPart("a", log), GuardedPart("b", log), Part("c", log))
    flow = tflow.tflow()
    dispatch(chain, "running")
    dispatch(chain, "requestheaders", flow)
    dispatch(chain, "response", flow)
    assert log == [
        "a.running",
        "b.running",
        "c.running",
        "a.requestheaders",
        "b.sees-response=True",
        "a.response",
        "b.response",
        "c.response",
    ]


def test_the_chain_has_exactly_the_hooks_its_parts_define() -> None:
    """mitmproxy calls every hook it finds on an addon: the chain must offer no other."""
    chain = Chain(Part("a", []), GuardedPart("b", []))
    found = {name for name in hooks.all_hooks if hasattr(chain, name)}
    assert found == {"running", "response", "requestheaders"}
    assert chain.hooks == ("requestheaders", "response", "running")


def recording_part(name: str, calls: list[tuple[object, ...]], *, asynchronous: bool) -> object:
    def hook(self: object, *args: object) -> None:
        calls.append(args)

    async def async_hook(self: object, *args: object) -> None:
        await asyncio.sleep(0)
        calls.append(args)

    return type(f"Has_{name}", (), {name: async_hook if asynchronous else hook})()


@pytest.mark.parametrize("name", FORWARDED)
def test_every_hook_a_part_defines_is_forwarded(name: str) -> None:
    calls: list[tuple[object, ...]] = []
    chain = Chain(Part("other", []), recording_part(name, calls, asynchronous=False))
    sent = event(name)
    dispatch(chain, name, *sent.args())
    assert calls == [tuple(sent.args())]


@pytest.mark.parametrize("name", sorted(set(FORWARDED) - SYNC_ONLY))
def test_every_async_hook_a_part_defines_is_awaited(name: str) -> None:
    calls: list[tuple[object, ...]] = []
    chain = Chain(recording_part(name, calls, asynchronous=True))
    sent = event(name)
    dispatch(chain, name, *sent.args())
    assert calls == [tuple(sent.args())]


def test_a_plain_hook_returning_an_awaitable_is_awaited_before_the_next_part() -> None:
    log: list[str] = []

    def returns_awaitable(func: Callable[..., Awaitable[None]]) -> Callable[..., Any]:
        return functools.wraps(func)(lambda *args: func(*args))

    class Decorated(Part):
        @returns_awaitable
        async def request(self, flow: http.HTTPFlow) -> None:
            await asyncio.sleep(0)
            self.log.append(f"{self.name}.request")

    class After(Part):
        def request(self, flow: http.HTTPFlow) -> None:
            self.log.append(f"{self.name}.request")

    dispatch(Chain(Decorated("a", log), After("b", log)), "request", tflow.tflow())
    assert log == ["a.request", "b.request"]


@pytest.mark.parametrize("name", sorted(SYNC_ONLY))
def test_an_async_synchronous_only_hook_is_refused(name: str) -> None:
    async def hook(self: object, *args: object) -> None:
        return None

    wrong = type("Wrong", (), {name: hook})()
    with pytest.raises(TypeError, match=rf"Wrong\.{name} must not be async"):
        Chain(Part("a", []), wrong)


@pytest.mark.parametrize("name", sorted(UNFORWARDABLE))
def test_a_hook_the_chain_cannot_forward_is_refused(name: str) -> None:
    def hook(self: object, *args: object) -> None:
        return None

    wrong = type("Wrong", (), {name: hook})()
    with pytest.raises(ValueError, match=rf"Wrong\.{name}: the chain does not forward"):
        Chain(Part("a", []), wrong)


def test_a_part_with_sub_addons_or_a_hook_that_is_not_callable_is_refused() -> None:
    class Parent:
        addons = (Part("child", []),)

    class NotCallable:
        request = "not a method"

    with pytest.raises(TypeError, match="Parent has sub-addons"):
        Chain(Parent())
    with pytest.raises(TypeError, match=r"NotCallable\.request .* not callable"):
        Chain(NotCallable())


class Spy:
    """A part after the failing one: records whether a hook reached it."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        self.seen.append("requestheaders")

    def response(self, flow: http.HTTPFlow) -> None:
        self.seen.append("response")


def test_a_part_that_raises_before_enforce_gets_the_request_refused_logged_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = Metrics(CollectorRegistry(), categories=())
    spy = Spy()
    chain = Chain(Raising("r", []), Enforce(make_leeway()), spy, on_error=metrics.addon_failed)
    metrics.addon_hooks(chain.hooks)
    flow = request_flow("www.example.org")  # uncategorised: Enforce would let it through
    with caplog.at_level(logging.ERROR, logger="leeway.chain"), addon_context(chain) as tctx:
        hook = http_layer.HttpRequestHeadersHook(flow)
        tctx.master.event_loop.run_until_complete(tctx.master.addons.trigger_event(hook))
    assert flow.response is not None, "the request went to the site undecided"
    assert flow.response.status_code == 503
    text = flow.response.text
    assert text is not None
    assert text.startswith("Leeway could not check this request. Reference ")
    reference = text.removesuffix(".\n").rsplit(" ", 1)[1]
    assert spy.seen == [], "the parts after the failing one ran for a refused flow"
    [record] = caplog.records
    assert record.name == "leeway.chain"
    assert f"ref {reference}: Raising.requestheaders failed: 'no such header'" in record.message
    assert record.exc_info is not None and record.exc_info[0] is KeyError
    value = metrics._registry.get_sample_value
    assert value("leeway_addon_errors_total", {"hook": "requestheaders"}) == 1
    assert value("leeway_addon_errors_total", {"hook": "response"}) == 0


def test_an_error_in_a_response_hook_is_logged_and_the_next_part_still_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    errors: list[str] = []
    spy = Spy()
    flow = tflow.tflow(resp=True)
    with caplog.at_level(logging.ERROR, logger="leeway.chain"):
        dispatch(Chain(Raising("r", []), spy, on_error=errors.append), "response", flow)
    assert spy.seen == ["response"]
    assert errors == ["response"]
    [record] = caplog.records
    assert "Raising.response failed: 'no such header'" in record.message
    assert record.exc_info is not None
    assert flow.response is not None and flow.response.status_code == 200
