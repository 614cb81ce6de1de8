"""The names a TLS server is certified for, read for a client that named no server: from a
real handshake with a real TLS server, never with a server the destination rules refuse."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from addons.server_names import REMEMBERED, ServerNames, certificate_of, names_in
from policy.destinations import Address, DestinationRules
from tests.e2e.certs import make_origin_certs

if TYPE_CHECKING:
    from pathlib import Path

SITE = ipaddress.ip_address("192.0.2.10")
OPEN = DestinationRules()


def der_for(tmp_path: Path, names: list[str]) -> bytes:
    certs = make_origin_certs(tmp_path, names)
    return x509.load_pem_x509_certificate(certs.cert.read_bytes()).public_bytes(
        serialization.Encoding.DER
    )


class Handshakes:
    """A stand-in for the network: the certificate each address shows, and who was asked."""

    def __init__(self, shown: dict[Address, bytes | None]) -> None:
        self.shown = shown
        self.asked: list[tuple[Address, int]] = []

    async def __call__(self, address: Address, port: int) -> bytes | None:
        self.asked.append((address, port))
        return self.shown.get(address)


async def nowhere(host: str, port: int) -> tuple[Address, ...]:
    return ()


def test_a_certificates_names_are_its_alternative_names(tmp_path: Path) -> None:
    assert names_in(der_for(tmp_path, ["www.facebook.com", "*.fbcdn.net"])) == (
        "www.facebook.com",
        "fbcdn.net",
    )
    assert names_in(b"not a certificate") == ()


def test_without_alternative_names_the_common_name_counts() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.youtube.com")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    assert names_in(cert.public_bytes(serialization.Encoding.DER)) == ("www.youtube.com",)


def test_a_real_server_shows_its_certificate_to_a_client_naming_none(tmp_path: Path) -> None:
    certs = make_origin_certs(tmp_path, ["www.youtube.com"])
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(certs.cert, certs.key)
    names_asked: list[str | None] = []
    server_side.sni_callback = lambda sock, name, ctx: names_asked.append(name)

    async def scenario() -> tuple[bytes | None, bytes | None]:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()  # until the client closes: it sends nothing
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_side)
        port = server.sockets[0].getsockname()[1]
        async with server:
            shown = await certificate_of(ipaddress.ip_address("127.0.0.1"), port)

        async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"SSH-2.0-OpenSSH_9.6\r\n")  # not TLS
            await writer.drain()
            writer.close()

        plain = await asyncio.start_server(greet, "127.0.0.1", 0)
        async with plain:
            none = await certificate_of(
                ipaddress.ip_address("127.0.0.1"), plain.sockets[0].getsockname()[1]
            )
        return shown, none

    shown, none = asyncio.run(scenario())
    assert shown is not None and names_in(shown) == ("www.youtube.com",)
    assert names_asked == [None], "no server name sent"
    assert none is None


def test_a_refused_address_is_never_contacted(tmp_path: Path) -> None:
    handshakes = Handshakes({SITE: der_for(tmp_path, ["www.facebook.com"])})
    refusing = DestinationRules(allowed=())
    names = ServerNames(lambda: refusing, resolve=nowhere, handshake=handshakes)
    assert asyncio.run(names.of("127.0.0.1", 443)) is None
    assert asyncio.run(names.of("169.254.169.254", 443)) is None
    assert handshakes.asked == []


def test_a_name_is_resolved_and_every_address_must_be_allowed(tmp_path: Path) -> None:
    handshakes = Handshakes({SITE: der_for(tmp_path, ["www.facebook.com"])})

    async def two(host: str, port: int) -> tuple[Address, ...]:
        return (SITE, ipaddress.ip_address("127.0.0.1")) if host == "mixed.example" else (SITE,)

    names = ServerNames(lambda: OPEN, resolve=two, handshake=handshakes)
    assert asyncio.run(names.of("fb.attacker.example", 443)) == ("www.facebook.com",)
    assert asyncio.run(names.of("mixed.example", 443)) is None
    assert handshakes.asked == [(SITE, 443)]


def test_answers_are_remembered_a_while(tmp_path: Path) -> None:
    handshakes = Handshakes({SITE: der_for(tmp_path, ["www.example.org"])})
    now = [0.0]
    names = ServerNames(lambda: OPEN, resolve=nowhere, handshake=handshakes, clock=lambda: now[0])
    for _ in range(3):
        assert asyncio.run(names.of(str(SITE), 443)) == ("www.example.org",)
    assert len(handshakes.asked) == 1
    now[0] = REMEMBERED + 1
    asyncio.run(names.of(str(SITE), 443))
    assert len(handshakes.asked) == 2
