"""Load for `bench.proxy`: keep-alive HTTP/1.1 clients through a proxy, and a fast origin.

`python -m bench.loadgen load ...` prints one JSON line of results; `... origin` serves.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import os
import ssl
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tests.e2e.proxy_process import ORIGIN_ADDRESS

BODY = b"<!doctype html><title>bench</title><p>" + b"x" * 200 + b"</p>\n"
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % len(BODY)
) + BODY
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
STREAM_ERRORS = (OSError, ssl.SSLError, asyncio.IncompleteReadError, asyncio.LimitOverrunError)


@dataclass(frozen=True, slots=True)
class Target:
    proxy_port: int
    scheme: str  # http: absolute-form requests; https: CONNECT, TLS, origin-form requests
    host: str
    port: int
    login: str | None = None  # user:password for Proxy-Authorization
    logins: tuple[str, ...] = ()  # several: each request signs in as the next (plain HTTP)
    local_addresses: tuple[str, ...] = ()  # client i connects from the i-th (modulo)

    def auth_header(self) -> bytes:
        if self.login is None:
            return b""
        token = base64.b64encode(self.login.encode()).decode()
        return f"Proxy-Authorization: Basic {token}\r\n".encode()

    def request(self) -> bytes:
        authority = f"{self.host}:{self.port}"
        if self.scheme == "https":
            return f"GET / HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode()
        head = f"GET http://{authority}/ HTTP/1.1\r\nHost: {authority}\r\n"
        return head.encode() + self.auth_header() + b"\r\n"

    def requests(self, start: int = 0) -> list[bytes]:
        """The request of each login in turn, from the `start`th (one without `logins`)."""
        if not self.logins:
            return [self.request()]
        turns = self.logins[start % len(self.logins) :] + self.logins[: start % len(self.logins)]
        return [replace(self, login=login, logins=()).request() for login in turns]

    def connect(self) -> bytes:
        authority = f"{self.host}:{self.port}"
        head = f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n"
        return head.encode() + self.auth_header() + b"\r\n"


@dataclass(slots=True)
class Tally:
    """Responses completed inside the measuring window [start, end), and their latencies."""

    start: float
    end: float
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    issuer: str = ""
    cpu: list[float] = field(default_factory=list)  # the watched process's CPU s at start, end

    def record(self, status: int, sent: float, received: float) -> None:
        if self.start <= received < self.end:
            self.latencies.append(received - sent)
            self.statuses[status] = self.statuses.get(status, 0) + 1

    def sample_cpu(self, pid: int) -> None:
        with contextlib.suppress(OSError):  # the proxy is gone: no CPU figure
            self.cpu.append(cpu_seconds(pid))

    def cpu_per_response(self, responses: int) -> float:
        """Microseconds of the watched process's CPU per response in the window."""
        if len(self.cpu) != 2 or not responses:
            return 0.0
        return (self.cpu[1] - self.cpu[0]) * 1e6 / responses

    def summary(self) -> dict[str, Any]:
        done = sorted(self.latencies)
        cuts = statistics.quantiles(done, n=100) if len(done) >= 2 else [0.0] * 99
        return {
            "rate": len(done) / (self.end - self.start),
            "p50_ms": cuts[49] * 1000,
            "p99_ms": cuts[98] * 1000,
            "statuses": self.statuses,
            "errors": self.errors,
            "cpu_us": self.cpu_per_response(len(done)),
            "issuer": self.issuer,
        }


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response with a Content-Length body: its status, and whether it closes."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    length, close = 0, False
    for line in head[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection":
            close = "close" in value.lower()
        elif name == "transfer-encoding":
            raise ValueError("chunked responses are not expected from the bench origin")
    if length:
        await reader.readexactly(length)
    return status, close


def issuer_name(writer: asyncio.StreamWriter) -> str:
    ssl_object = writer.get_extra_info("ssl_object")
    cert = ssl_object.getpeercert() if ssl_object else None
    if not cert:
        return ""
    fields = dict(pair for rdn in cert["issuer"] for pair in rdn)
    return str(fields.get("commonName") or fields.get("organizationName") or "")


async def open_through(
    target: Target, context: ssl.SSLContext, tally: Tally, index: int = 0
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to the proxy; for HTTPS, tunnelled with CONNECT and TLS to the host."""
    addresses = target.local_addresses
    local = (addresses[index % len(addresses)], 0) if addresses else None
    reader, writer = await asyncio.open_connection("127.0.0.1", target.proxy_port, local_addr=local)
    if target.scheme == "http":
        return reader, writer
    try:
        writer.write(target.connect())
        status, _ = await read_response(reader)
        if status != 200:
            raise ConnectionError(f"CONNECT answered {status}")
        await writer.start_tls(context, server_hostname=target.host)
    except BaseException:
        writer.close()
        raise
    tally.issuer = tally.issuer or issuer_name(writer)
    return reader, writer


async def exchange(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    requests: Iterator[bytes],
    tally: Tally,
) -> None:
    """Sequential GETs on one connection until the window ends or the server closes it."""
    clock = time.perf_counter
    while (sent := clock()) < tally.end:
        writer.write(next(requests))
        status, close = await read_response(reader)
        tally.record(status, sent, clock())
        if close:
            return


async def client(target: Target, context: ssl.SSLContext, tally: Tally, index: int = 0) -> None:
    # Client `index` starts at its own login: concurrent clients sign in as different users.
    requests = itertools.cycle(target.requests(index * 7))
    while time.perf_counter() < tally.end:
        writer = None
        try:
            reader, writer = await open_through(target, context, tally, index)
            await exchange(reader, writer, requests, tally)
        except (*STREAM_ERRORS, ValueError):
            tally.errors += 1
            await asyncio.sleep(0.05)
        finally:
            if writer is not None:
                writer.close()


async def load(
    target: Target, concurrency: int, warmup: float, duration: float, cafiles: list[str], watch: int
) -> dict[str, Any]:
    """Run `concurrency` clients; `watch` is the proxy's pid, whose CPU time in the window
    is measured."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    for cafile in cafiles:
        context.load_verify_locations(cafile=cafile)
    begin = time.perf_counter()
    tally = Tally(begin + warmup, begin + warmup + duration)
    loop = asyncio.get_running_loop()
    for delay in (warmup, warmup + duration):
        loop.call_later(delay, tally.sample_cpu, watch)
    tasks = [asyncio.create_task(client(target, context, tally, i)) for i in range(concurrency)]
    _, late = await asyncio.wait(tasks, timeout=warmup + duration + 3)
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    return tally.summary()


async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The origin: the same small page for every request, keep-alive."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    await reader.readexactly(int(line.split(b":", 1)[1]))
            writer.write(RESPONSE)
            await writer.drain()
    except STREAM_ERRORS:
        pass
    finally:
        writer.close()


async def serve_origin(cert: str, key: str) -> None:
    """Listen plain and TLS on ORIGIN_ADDRESS, print both ports as JSON, serve until killed."""
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    plain = await asyncio.start_server(answer, ORIGIN_ADDRESS, 0, backlog=1024)
    secure = await asyncio.start_server(answer, ORIGIN_ADDRESS, 0, ssl=tls, backlog=1024)
    ports = {
        name: s.sockets[0].getsockname()[1] for name, s in [("http", plain), ("https", secure)]
    }
    print(json.dumps(ports), flush=True)
    await asyncio.Event().wait()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    commands = parser.add_subparsers(dest="command", required=True)
    origin = commands.add_parser("origin")
    origin.add_argument("--cert", required=True)
    origin.add_argument("--key", required=True)
    run = commands.add_parser("load")
    for name in ("--proxy-port", "--port", "--concurrency"):
        run.add_argument(name, type=int, required=True)
    run.add_argument("--scheme", choices=("http", "https"), required=True)
    run.add_argument("--host", required=True)
    run.add_argument("--login")
    run.add_argument("--logins-file", type=Path, help="user:password lines, one a request")
    run.add_argument("--local-addresses-file", type=Path, help="addresses, one a client")
    run.add_argument("--watch-pid", type=int, required=True, help="the proxy's pid")
    run.add_argument("--warmup", type=float, default=1.0)
    run.add_argument("--duration", type=float, default=5.0)
    run.add_argument("--cafile", action="append", default=[])
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.command == "origin":
        asyncio.run(serve_origin(args.cert, args.key))
        return
    logins = tuple(args.logins_file.read_text().split()) if args.logins_file else ()
    local = args.local_addresses_file
    addresses = tuple(local.read_text().split()) if local else ()
    target = Target(
        args.proxy_port, args.scheme, args.host, args.port, args.login, logins, addresses
    )
    result = asyncio.run(
        load(target, args.concurrency, args.warmup, args.duration, args.cafile, args.watch_pid)
    )
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
