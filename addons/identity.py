"""Who is asking: proxy authentication, a trusted upstream header, or the address map.

Runs after Leeway's SignIn (proxy authentication, `addons.signin`), whose login it reads
from `flow.metadata["proxyauth"]`. Identity headers and proxy credentials are removed
from every request, so no site ever sees them.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import weakref

from mitmproxy import connection, http

from addons.context import Leeway
from addons.who import METADATA_KEY, FlowNotes, Who, by_address, client_address

logger = logging.getLogger("leeway.identity")

CREDENTIAL_HEADERS = ("Proxy-Authorization",)


def strip_fields(headers: http.Headers, names: tuple[str, ...]) -> None:
    """Remove every field called one of `names`. Looks at the raw fields first: most
    requests carry none of them, and a miss through the case-insensitive mapping costs
    a scan of the fields and a KeyError per name."""
    wanted = _field_names(names)
    if any(field.lower() in wanted for field, _ in headers.fields):
        for name in names:
            headers.pop(name, None)


@functools.cache
def _field_names(names: tuple[str, ...]) -> frozenset[bytes]:
    # The same one or two names on every request: encoded once.
    return frozenset(name.encode("utf-8", "surrogateescape").lower() for name in names)


class Identity:
    def __init__(self, leeway: Leeway) -> None:
        self.leeway = leeway
        # Who opened each tunnel: requests inside it carry no credentials or header.
        self._tunnels: weakref.WeakKeyDictionary[connection.Client, Who] = (
            weakref.WeakKeyDictionary()
        )

    def http_connect(self, flow: http.HTTPFlow) -> None:
        who = self.identify(flow)
        if who.username is not None and who.via != "address":
            self._tunnels[flow.client_conn] = who

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        self.identify(flow)

    def identify(self, flow: http.HTTPFlow) -> Who:
        """Record who sent `flow` in its metadata and strip identity headers."""
        who = self._who(flow)
        flow.metadata[METADATA_KEY] = FlowNotes(who)
        trusted = self.leeway.trusted_header
        strip_fields(flow.request.headers, (*CREDENTIAL_HEADERS, *((trusted,) if trusted else ())))
        return who

    def _who(self, flow: http.HTTPFlow) -> Who:
        client = client_address(flow)
        login = flow.metadata.get("proxyauth")
        if login:
            return Who(str(login[0]), "proxyauth", client)
        name = self._trusted_header_value(flow, client)
        if name:
            return Who(name, "header", client)
        tunnel = self._tunnels.get(flow.client_conn)
        if tunnel is not None:
            return tunnel
        return by_address(self.leeway.addresses, client)

    def _trusted_header_value(self, flow: http.HTTPFlow, client: str) -> str | None:
        header = self.leeway.trusted_header
        if not header or header not in flow.request.headers:
            return None
        value = flow.request.headers[header].strip()
        if not self._is_trusted_peer(client):
            logger.warning("ignored %s header from untrusted peer %s", header, client)
            return None
        return value[:255] or None

    def _is_trusted_peer(self, client: str) -> bool:
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        return any(address in network for network in self.leeway.trusted_peers)
