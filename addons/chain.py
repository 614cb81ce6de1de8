"""Leeway's addons registered with mitmproxy as one, each part's hooks isolated.

mitmproxy visits every registered addon on every event of every flow, whether it handles
the event or not; with a dozen small addons that dispatch alone cost a quarter of the
proxy's throughput (measured with callgrind: 12.0 M instructions a request against 9.2 M
for bare mitmdump; 9.3 M as one chain). The parts stay separate classes, one concept
each; the chain calls their hooks in order, as mitmproxy would: every hook of mitmproxy's
registry that a part defines is forwarded, and an exception in one part is logged,
counted and contained, as mitmproxy's addon manager contains it per addon. Where the flow
could go on undecided, the chain fails closed instead and skips the hook's later parts.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import types
from collections.abc import Callable
from typing import Any

# mitmproxy's hook registry fills as the modules that define hooks are imported.
import mitmproxy.addonmanager
import mitmproxy.proxy.layer
import mitmproxy.proxy.layers.dns
import mitmproxy.proxy.layers.http
import mitmproxy.proxy.layers.modes
import mitmproxy.proxy.layers.quic
import mitmproxy.proxy.layers.tcp
import mitmproxy.proxy.layers.tls
import mitmproxy.proxy.layers.udp
import mitmproxy.proxy.layers.websocket
import mitmproxy.proxy.server_hooks
from mitmproxy import exceptions, hooks

from addons.context import reference_id
from addons.fail_closed import FAIL_CLOSED

HOOK_MODULES = (
    mitmproxy.addonmanager,
    mitmproxy.proxy.layer,
    mitmproxy.proxy.layers.dns,
    mitmproxy.proxy.layers.http,
    mitmproxy.proxy.layers.modes,
    mitmproxy.proxy.layers.quic,
    mitmproxy.proxy.layers.tcp,
    mitmproxy.proxy.layers.tls,
    mitmproxy.proxy.layers.udp,
    mitmproxy.proxy.layers.websocket,
    mitmproxy.proxy.server_hooks,
)

logger = logging.getLogger("leeway.chain")

# Called through mitmproxy's synchronous paths (`invoke_addon_sync`, `trigger`) or
# documented as synchronous: an async part's hook would be a coroutine never awaited.
SYNC_ONLY = frozenset({"load", "configure", "running", "done", "update"})
# Events mitmproxy no longer sends (its addonmanager.register warns of them), and
# `add_log`, which the chain's own error log would send again: defining one is a mistake.
UNFORWARDABLE = frozenset(
    {"clientconnect", "clientdisconnect", "serverconnect", "serverdisconnect", "add_log"}
)
# mitmproxy's own control flow: passed on, as its addon manager passes it on.
PASSED_ON = (exceptions.AddonHalt, exceptions.OptionsError)

type Hook = Callable[..., Any]
type OnError = Callable[[str], None]
type Failed = Callable[[str, Hook, Any, Exception], bool]


def _ignore(hook: str) -> None:
    return None


class Chain:
    """Calls `parts`' hooks in order; `on_error(hook)` is told of each exception."""

    def __init__(self, *parts: object, on_error: OnError = _ignore) -> None:
        for part in parts:
            _refuse_unforwardable(part)
        self.parts = parts
        self._on_error = on_error
        self._owners: dict[Hook, str] = {}
        forwarded: list[str] = []
        for name, event in hooks.all_hooks.items():
            if name in UNFORWARDABLE:
                continue
            single = len(dataclasses.fields(event)) == 1  # type: ignore[arg-type]
            calls = [c for part in parts if (c := self._call(part, name, single)) is not None]
            if calls:
                # An instance attribute only for a hook some part has: mitmproxy calls
                # every hook it finds by `getattr`.
                setattr(self, name, self._dispatcher(name, tuple(calls), single))
                forwarded.append(name)
        self.hooks = tuple(sorted(forwarded))

    def _call(self, part: object, name: str, single: bool) -> Hook | None:
        """How the chain calls `part`'s hook: with the one argument most hooks have, or
        with the tuple of the others' arguments unpacked (not on the hot path)."""
        hook = _hook_of(part, name)
        if hook is None:
            return None
        call = hook if single else functools.partial(_unpacked, hook)
        self._owners[call] = type(part).__name__
        return call

    def _dispatcher(self, name: str, calls: tuple[Hook, ...], single: bool) -> Hook:
        if any(inspect.iscoroutinefunction(call) for call in calls):
            dispatch = _awaiting(name, calls, self._failed)
        else:
            dispatch = _calling(name, calls, self._failed)
        return dispatch if single else functools.partial(_packed, dispatch)

    def _failed(self, name: str, call: Hook, arg: Any, error: Exception) -> bool:
        """Log and count `error`; True when the hook failed closed (its later parts skip)."""
        part = self._owners.get(call, "?")
        self._on_error(name)
        refuse = FAIL_CLOSED.get(name)
        if refuse is None:
            logger.error("%s.%s failed: %s", part, name, error, exc_info=error)
            return False
        reference = reference_id()
        outcome = refuse(arg, reference)
        logger.error(
            "ref %s: %s.%s failed: %s; %s", reference, part, name, error, outcome, exc_info=error
        )
        return True


def _unpacked(hook: Hook, args: tuple[Any, ...]) -> Any:
    return hook(*args)


def _packed(dispatch: Hook, *args: Any) -> Any:
    return dispatch(args)


def _calling(name: str, calls: tuple[Hook, ...], failed: Failed) -> Hook:
    """A plain function calling each hook (mitmproxy awaits what it returns, if anything)."""

    def dispatch(arg: Any) -> Any:
        for call in calls:
            try:
                result = call(arg)
            except PASSED_ON:
                raise
            # A part's failure must not reach mitmproxy or the other parts, whatever it is: the
            # isolation mitmproxy gives each addon (safecall), logged and answered by `failed`.
            except Exception as e:  # noqa: BLE001
                if failed(name, call, arg, e):
                    return None
                continue
            # A plain function may return an awaitable (a decorated async hook): the later
            # parts wait for it, as they would under mitmproxy.
            if result is not None and inspect.isawaitable(result):
                rest = calls[next(i for i, c in enumerate(calls) if c is call) + 1 :]
                return _finish(name, result, call, rest, arg, failed)
        return None

    return dispatch


def _awaiting(name: str, calls: tuple[Hook, ...], failed: Failed) -> Hook:
    """A coroutine function calling each hook and awaiting what it returns."""

    async def dispatch(arg: Any) -> None:
        for call in calls:
            try:
                result = call(arg)
                # Most hooks return None: skip inspect.isawaitable, a Python-level call.
                if result is not None and inspect.isawaitable(result):
                    await result
            except PASSED_ON:
                raise
            # A part's failure must not reach mitmproxy or the other parts, whatever it is: the
            # isolation mitmproxy gives each addon (safecall), logged and answered by `failed`.
            except Exception as e:  # noqa: BLE001
                if failed(name, call, arg, e):
                    return

    return dispatch


async def _finish(
    name: str, pending: Any, call: Hook, rest: tuple[Hook, ...], arg: Any, failed: Failed
) -> None:
    try:
        await pending
    except PASSED_ON:
        raise
    except Exception as e:  # noqa: BLE001 - as in `_awaiting`
        if failed(name, call, arg, e):
            return
    await _awaiting(name, rest, failed)(arg)


def _hook_of(part: object, name: str) -> Hook | None:
    """`part`'s hook `name`, as mitmproxy's addon manager would find it, or None."""
    hook: Hook | None = getattr(part, name, None)
    if hook is None or isinstance(hook, types.ModuleType):  # `from mitmproxy import log`
        return None
    where = f"{type(part).__name__}.{name}"
    if not callable(hook):
        raise TypeError(f"{where} is named like mitmproxy hook {name} but is not callable")
    if name in SYNC_ONLY and inspect.iscoroutinefunction(hook):
        raise TypeError(f"{where} must not be async: mitmproxy calls hook {name} synchronously")
    return hook


def _refuse_unforwardable(part: object) -> None:
    kind = type(part).__name__
    if hasattr(part, "addons"):
        raise TypeError(
            f"{kind} has sub-addons (`addons`) the chain would never call: "
            "register it with mitmproxy on its own"
        )
    for name in sorted(UNFORWARDABLE):
        if callable(getattr(part, name, None)):
            raise ValueError(
                f"{kind}.{name}: the chain does not forward mitmproxy hook {name} "
                "(removed from mitmproxy, or deprecated and fed by logging)"
            )
