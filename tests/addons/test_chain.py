"""The chain calls each part's hooks in order, awaiting the async ones."""

from __future__ import annotations

import asyncio

import pytest
from mitmproxy import http
from mitmproxy.test import tflow

from addons.chain import Chain


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


def test_hooks_run_in_order_and_async_ones_are_awaited() -> None:
    log: list[str] = []
    chain = Chain(AsyncPart("a", log), GuardedPart("b", log), Part("c", log))
    flow = tflow.tflow()
    chain.running()
    asyncio.run(chain.requestheaders(flow))  # type: ignore[arg-type]
    chain.response(flow)
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


def test_only_hooks_a_part_defines_are_called() -> None:
    log: list[str] = []
    chain = Chain(Part("only", log))
    asyncio.run(chain.request(tflow.tflow()))  # type: ignore[arg-type]
    assert log == []


def test_an_async_lifecycle_hook_is_refused() -> None:
    class Wrong:
        async def running(self) -> None:
            return None

    with pytest.raises(TypeError, match="must not be async"):
        Chain(Wrong())
