"""Proxy authentication without blocking the event loop: Leeway's own `proxyauth`.

mitmproxy's ProxyAuth calls its validator inline in synchronous hooks, so one bcrypt check
or one slow directory bind stalls every user of the proxy. This addon keeps its protocol
(Basic credentials in Proxy-Authorization, 407 with Proxy-Authenticate when they are
missing or wrong, the header removed before forwarding, a CONNECT's login holding for its
tunnel, `flow.metadata["proxyauth"]` for the addons after it) and asks `SignInChecks`,
which answers lately passed credentials at once and checks the others in a thread. A
client the address map names may go without credentials: it is identified by its address.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable

from mitmproxy import connection, http
from mitmproxy.addons.proxyauth import (
    http_auth_header,
    is_http_proxy,
    make_auth_required_response,
    parse_http_basic_auth,
)

from addons.signin_checks import Outcome, SignInChecks
from addons.who import client_address

# What `flow.metadata["proxyauth"]` holds: (canonical username, ""). mitmproxy puts the
# password there; Leeway's addons need only the name, and a flow keeps no password.
METADATA_KEY = "proxyauth"


def _nobody(client: str) -> bool:
    return False


class SignIn:
    """Requires proxy credentials from every client, checked by `checks`."""

    def __init__(self, checks: SignInChecks, mapped: Callable[[str], bool] = _nobody) -> None:
        self.checks = checks
        # Clients the address map names need not sign in (Identity knows them by address);
        # credentials they do send are checked all the same.
        self.mapped = mapped
        # Connections signed in by their CONNECT: requests in the tunnel carry no credentials.
        self.authenticated: weakref.WeakKeyDictionary[connection.Client, str] = (
            weakref.WeakKeyDictionary()
        )

    def done(self) -> None:
        self.checks.close()

    def http_connect(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        if flow.response or flow.error:
            return None
        return self.authenticate(flow, tunnel=True)

    def requestheaders(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        if flow.response or flow.error:
            return None
        username = self.authenticated.get(flow.client_conn)
        if username is not None:
            flow.metadata[METADATA_KEY] = (username, "")
            return None
        if flow.is_replay:
            return None
        return self.authenticate(flow)

    def authenticate(self, flow: http.HTTPFlow, *, tunnel: bool = False) -> Awaitable[None] | None:
        """Sign the flow in: at once when its credentials passed lately (None), else a
        coroutine that checks them. Signed in, `flow.metadata["proxyauth"]` names the person
        and the credentials are removed; refused, the flow is answered 407 (401 when the
        proxy acts as a server). Plain functions: the chain runs the common request
        without a coroutine."""
        header = http_auth_header(is_http_proxy(flow))
        login = _credentials(flow, header)
        if login is None:
            if header not in flow.request.headers and self.mapped(client_address(flow)):
                return None
            self._refuse(flow)
            return None
        username = self.checks.known(*login)
        if username is None:
            return self._check(flow, login, tunnel=tunnel)
        self._admit(flow, username, tunnel=tunnel)
        return None

    async def _check(self, flow: http.HTTPFlow, login: tuple[str, str], *, tunnel: bool) -> None:
        verdict = await self.checks.check(login[0], login[1], client_address(flow))
        if verdict.outcome is Outcome.OK and verdict.username is not None:
            self._admit(flow, verdict.username, tunnel=tunnel)
        else:
            self._refuse(flow)

    def _admit(self, flow: http.HTTPFlow, username: str, *, tunnel: bool) -> None:
        flow.metadata[METADATA_KEY] = (username, "")
        flow.request.headers.pop(http_auth_header(is_http_proxy(flow)), None)
        if tunnel:
            self.authenticated[flow.client_conn] = username

    def _refuse(self, flow: http.HTTPFlow) -> None:
        flow.response = make_auth_required_response(is_http_proxy(flow))


def _credentials(flow: http.HTTPFlow, header: str) -> tuple[str, str] | None:
    value = flow.request.headers.get(header)
    if not value:
        return None
    try:
        _, username, password = parse_http_basic_auth(value)
    except ValueError:  # not Basic, bad base64, or no single ':' (as mitmproxy refuses it)
        return None
    return username, password
