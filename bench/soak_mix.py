"""The load of `bench.soak`: 50 clients of an office's mixed traffic through one proxy.

`python -m bench.soak_mix ...` runs until its end time and prints one JSON line a period:
responses so far by status, errors, and new connections. Each client has its own source
address (the address map names the user) and, in turn, uses every kind of request below,
sometimes on a new connection, sometimes several on one kept alive.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

from bench.loadgen import STREAM_ERRORS, Target, read_response

CATEGORISED = "www.facebook.com"  # social: allowed, warned or blocked by user and method
RICH_MEDIA = "www.youtube.com"  # rich-media: warned for everybody in the soak
UNCATEGORISED = "www.example.org"  # passed through (HTTPS) or relayed untouched (HTTP)
NAMES = [CATEGORISED, RICH_MEDIA, UNCATEGORISED]
NAVIGATE = "Accept: text/html\r\nSec-Fetch-Mode: navigate\r\n"
XHR = "Accept: application/json\r\nSec-Fetch-Mode: cors\r\n"


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of request: where it goes and how it asks."""

    scheme: str
    host: str
    method: str = "GET"
    headers: str = ""

    def request(self, port: int, path: str) -> bytes:
        authority = f"{self.host}:{port}"
        target = path if self.scheme == "https" else f"http://{authority}{path}"
        body = b"title=soak&text=" + b"y" * 300 if self.method == "POST" else b""
        length = f"Content-Length: {len(body)}\r\n" if body else ""
        head = f"{self.method} {target} HTTP/1.1\r\nHost: {authority}\r\n{self.headers}{length}"
        return (head + "\r\n").encode() + body


KINDS = [
    Kind("https", CATEGORISED, headers=NAVIGATE),
    Kind("https", CATEGORISED, headers=XHR),
    Kind("https", CATEGORISED, "POST", XHR),
    Kind("http", CATEGORISED, headers=NAVIGATE),
    Kind("http", CATEGORISED, "POST", XHR),
    Kind("https", RICH_MEDIA, headers=NAVIGATE),
    Kind("https", RICH_MEDIA, headers=XHR),
    Kind("http", RICH_MEDIA, headers=XHR),
    Kind("https", UNCATEGORISED, headers=NAVIGATE),
    Kind("https", UNCATEGORISED, headers=XHR),
    Kind("http", UNCATEGORISED, headers=NAVIGATE),
    Kind("http", UNCATEGORISED, "POST", XHR),
]


@dataclass(slots=True)
class Counts:
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    connections: int = 0

    def snapshot(self) -> dict[str, Any]:
        done = sum(self.statuses.values())
        return {"responses": done, "statuses": self.statuses, "errors": self.errors,
                "connections": self.connections}  # fmt: skip


async def open_connection(
    proxy_port: int, source: str, kind: Kind, port: int, context: ssl.SSLContext
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection from `source` to the proxy; for HTTPS, a CONNECT tunnel with TLS."""
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy_port, local_addr=(source, 0))
    if kind.scheme == "http":
        return reader, writer
    try:
        writer.write(Target(proxy_port, "https", kind.host, port).connect())
        status, _ = await read_response(reader)
        if status != 200:
            raise ConnectionError(f"CONNECT {kind.host} answered {status}")
        await writer.start_tls(context, server_hostname=kind.host)
    except BaseException:
        writer.close()
        raise
    return reader, writer


async def visit(args: argparse.Namespace, source: str, kind: Kind, counts: Counts,
                context: ssl.SSLContext, rng: random.Random) -> None:  # fmt: skip
    """One connection: 1 request (a new connection each time) or up to 30 kept alive."""
    port = args.ports[kind.scheme]
    reader, writer = await open_connection(args.proxy_port, source, kind, port, context)
    counts.connections += 1
    try:
        for n in range(1 if rng.random() < 0.3 else rng.randint(2, 30)):
            writer.write(kind.request(port, f"/page/{rng.randrange(1000)}?n={n}"))
            status, close = await read_response(reader)
            counts.statuses[status] = counts.statuses.get(status, 0) + 1
            if close or time.time() >= args.until:
                return
    finally:
        writer.close()


async def client(
    args: argparse.Namespace, index: int, counts: Counts, context: ssl.SSLContext
) -> None:
    rng = random.Random(index)
    source = args.sources[index % len(args.sources)]
    while time.time() < args.until:
        try:
            await visit(args, source, rng.choice(KINDS), counts, context, rng)
        except (*STREAM_ERRORS, ValueError, ConnectionError):
            counts.errors += 1
            await asyncio.sleep(0.05)


async def report(args: argparse.Namespace, counts: Counts) -> None:
    while time.time() < args.until:
        await asyncio.sleep(min(args.every, max(0.0, args.until - time.time())))
        print(json.dumps(counts.snapshot()), flush=True)


async def load(args: argparse.Namespace) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    for cafile in args.cafile:
        context.load_verify_locations(cafile=cafile)
    counts = Counts()
    clients = [client(args, i, counts, context) for i in range(args.concurrency)]
    tasks = [asyncio.create_task(c) for c in clients]
    await report(args, counts)
    _, late = await asyncio.wait(tasks, timeout=10)
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    print(json.dumps({**counts.snapshot(), "final": True}), flush=True)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.soak_mix", description=__doc__)
    parser.add_argument("--proxy-port", type=int, required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--https-port", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--until", type=float, required=True, help="end, as a Unix time")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between reports")
    parser.add_argument("--source", dest="sources", action="append", required=True)
    parser.add_argument("--cafile", action="append", default=[])
    args = parser.parse_args(argv)
    args.ports = {"http": args.http_port, "https": args.https_port}
    return args


if __name__ == "__main__":
    asyncio.run(load(parse()))
