"""What a TLS server says it is, for a client that did not say where it was going.

A ClientHello without a server name (or with an address for one) to an address or a name
the policy does not categorise would pass through undecrypted, though the server behind it
may be a categorised site that the client reached by its address: the oldest way past a
filter that reads names. For those connections only, the proxy shakes hands with the
server itself (no server name, nothing sent after the handshake) and reads the names in
its certificate. A server the destination rules refuse is never contacted. Answers are
remembered a while, per address and port, within a bound.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable

from cryptography import x509
from cryptography.x509.oid import NameOID

from addons.destinations import resolve
from policy.destinations import Address, DestinationRules, literal_address

TIMEOUT = 5.0  # seconds for the whole handshake
REMEMBERED = 300.0  # seconds an answer is kept: certificates change rarely
MAX_REMEMBERED = 4096

type Resolve = Callable[[str, int], Awaitable[tuple[Address, ...]]]
type Handshake = Callable[[Address, int], Awaitable[bytes | None]]


async def certificate_of(address: Address, port: int) -> bytes | None:
    """The DER certificate the server at `address`:`port` shows a client that names no
    server, or None (no answer in time, not TLS)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the names are read, never trusted
    try:
        async with asyncio.timeout(TIMEOUT):
            _, writer = await asyncio.open_connection(
                str(address), port, ssl=context, server_hostname=""
            )
    except (OSError, ssl.SSLError, TimeoutError):
        return None
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        return ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    finally:
        writer.close()


def names_in(der: bytes) -> tuple[str, ...]:
    """The DNS names a certificate is for: its subjectAltName, else its common name; a
    wildcard as the domain it covers (`*.facebook.com`: `facebook.com`)."""
    try:
        cert = x509.load_der_x509_certificate(der)
        try:
            alternative = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            names = [str(n) for n in alternative.value.get_values_for_type(x509.DNSName)]
        except x509.ExtensionNotFound:
            common = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            names = [str(attribute.value) for attribute in common]
    except ValueError:  # not a certificate, or one whose extensions do not parse
        return ()
    return tuple(name.removeprefix("*.") for name in names)


class ServerNames:
    """The certificate names of servers reached without a server name, remembered a while."""

    def __init__(
        self,
        rules: Callable[[], DestinationRules],
        resolve: Resolve = resolve,
        handshake: Handshake = certificate_of,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rules = rules
        self._resolve = resolve
        self._handshake = handshake
        self._clock = clock
        self._seen: dict[tuple[str, int], tuple[float, tuple[str, ...] | None]] = {}

    async def of(self, host: str, port: int) -> tuple[str, ...] | None:
        """The names the server at `host`:`port` is certified for; None when they cannot
        be known (refused, unreachable, not TLS)."""
        key = (host, port)
        known = self._seen.get(key)
        if known is not None and known[0] > self._clock():
            return known[1]
        names = await self._look(host, port)
        if len(self._seen) >= MAX_REMEMBERED:
            self._seen.clear()  # bounded: junk addresses cannot grow it
        self._seen[key] = (self._clock() + REMEMBERED, names)
        return names

    async def _look(self, host: str, port: int) -> tuple[str, ...] | None:
        address = literal_address(host)
        addresses = (address,) if address is not None else await self._resolve(host, port)
        rules = self._rules()
        allowed = [a for a in addresses if rules.address(a, port) is None]
        if not allowed or len(allowed) < len(addresses):
            return None  # the proxy's connection is refused anyway; no probe goes there
        der = await self._handshake(allowed[0], port)
        return names_in(der) if der is not None else None
