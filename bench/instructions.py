"""Where a proxy's CPU per request goes: `leeway run` or bare `mitmdump`, one at a time.

Wall-clock rates are noisy on a shared machine; instruction counts are not. The proxy
starts as `bench.proxy` starts it; keep-alive connections are opened and warmed up, then
a fixed number of requests is measured. `--tool callgrind`: instructions per request
(the proxy's idle cost over the same time, its timers, is measured after and taken off).
`--tool none`: CPU per request of each of the proxy's threads. `--tool pyspy`: a py-spy
profile of the measured requests (raw format, `--keep FILE`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shlex
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.loadgen import Tally, Target, open_through, read_response
from bench.proxy import (
    LEEWAY_DESTINATIONS,
    NAMES,
    Running,
    make_store,
    shared_options,
    start_origin,
    wait_listening,
)
from tests.e2e.certs import make_origin_certs
from tests.e2e.proxy_process import free_port, private_resolver

HOSTS = {"categorised": NAMES[0], "uncategorised": NAMES[1]}
BIN = Path(sys.executable).parent

type Times = dict[str, tuple[str, float, float]]  # thread id: name, user s, system s


def proxy_command(name: str, work: Path, url: str, port: int) -> list[str]:
    """The command `bench.proxy` runs, without its shared options."""
    confdir = str(work / "confdir")
    if name == "mitmdump":
        command = [str(BIN / "mitmdump"), "-q", "--listen-port", str(port)]
        return [*command, "--set", f"confdir={confdir}", "--set", "stream_large_bodies=1m"]
    command = [sys.executable, "-m", "proxy.cli", "run", "--db-url", url]
    command += ["--listen-port", str(port), "--confdir", confdir]
    return [*command, "--metrics-port", str(free_port()), *LEEWAY_DESTINATIONS]


def start(command: list[str], work: Path, name: str, started: list[Running]) -> Running:
    """As `bench.proxy.start_isolated`, with time to start under valgrind."""
    hosts, resolv = private_resolver(work, NAMES)
    script = (
        f"mount --bind {shlex.quote(str(hosts))} /etc/hosts && "
        f"mount --bind {shlex.quote(str(resolv))} /etc/resolv.conf && exec {shlex.join(command)}"
    )
    log = work / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["unshare", "--mount", "sh", "-c", script], stdout=out, stderr=out, cwd=work
        )
    running = Running(name, process, int(command[command.index("--listen-port") + 1]), log)
    started.append(running)
    wait_listening(running, 600.0)
    ca = work / "confdir" / "mitmproxy-ca-cert.pem"
    while not ca.exists():  # written once the proxy runs
        time.sleep(0.1)
    return running


async def send(
    target: Target,
    context: ssl.SSLContext,
    phases: list[tuple[int, Callable[[], None]]],
    connections: int,
) -> None:
    """Open the connections, then for each phase call its function and send its count
    of requests on every connection."""
    opened = [await open_through(target, context, Tally(0.0, 1e12)) for _ in range(connections)]
    request = target.request()

    async def each(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        for _ in range(n):
            writer.write(request)
            status, _ = await read_response(reader)
            if status != 200:
                raise RuntimeError(f"the proxy answered {status}")

    for count, before in phases:
        before()
        await asyncio.gather(*(each(reader, writer, count) for reader, writer in opened))
    for _, writer in opened:
        writer.close()


def thread_times(pid: int) -> Times:
    ticks = os.sysconf("SC_CLK_TCK")
    times = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        name, rest = task.joinpath("stat").read_text().rsplit(")", 1)
        user, system = rest.split()[11:13]
        times[task.name] = (name.split("(", 1)[1], int(user) / ticks, int(system) / ticks)
    return times


def callgrind(pid: int, flag: str) -> None:
    subprocess.run(["callgrind_control", flag, str(pid)], check=True, capture_output=True)


def dumped_total(work: Path, pid: int, seen: set[Path]) -> int:
    """The instructions in the callgrind dump of `pid` not in `seen` (added to it)."""
    while not (new := set(work.glob(f"cg.out.{pid}*")) - seen):
        time.sleep(0.2)
    dump = max(new, key=lambda p: p.stat().st_mtime)
    seen.add(dump)
    time.sleep(0.5)  # let valgrind finish writing
    match = re.search(r"^(?:summary|totals): (\d+)", dump.read_text(), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no totals in {dump}")
    return int(match.group(1))


@dataclass
class Measurement:
    args: argparse.Namespace
    pid: int
    started: float = 0.0
    before: Times = field(default_factory=dict)
    spies: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def begin(self) -> None:
        if self.args.tool == "callgrind":
            callgrind(self.pid, "-z")
        if self.args.tool == "pyspy":
            spy = [str(BIN / "py-spy"), "record", "-p", str(self.pid), "--threads", "-r", "500"]
            spy += ["-f", "raw", "-o", self.args.keep or "pyspy.txt", "-d", "600"]
            self.spies.append(subprocess.Popen(spy, stdout=subprocess.DEVNULL))
        self.before = thread_times(self.pid)
        self.started = time.monotonic()

    def end(self) -> float:
        """Seconds since `begin`."""
        elapsed = time.monotonic() - self.started
        for spy in self.spies:
            spy.send_signal(signal.SIGINT)
            spy.wait()
        return elapsed

    def print_threads(self, requests: int) -> None:
        for tid, (name, user, system) in sorted(thread_times(self.pid).items()):
            _, user0, system0 = self.before.get(tid, (name, 0.0, 0.0))
            per = 1e6 / requests
            if user > user0 or system > system0:
                print(
                    f"  thread {tid} {name}: user {(user - user0) * per:5.0f} µs/request, ", end=""
                )
                print(f"system {(system - system0) * per:4.0f}")


def print_instructions(args: argparse.Namespace, work: Path, pid: int, elapsed: float) -> None:
    seen: set[Path] = set()
    callgrind(pid, "-d")  # a dump also zeroes the counters
    busy = dumped_total(work, pid, seen)
    probe = min(elapsed, args.idle)
    time.sleep(probe)
    callgrind(pid, "-d")
    idle = dumped_total(work, pid, seen) * elapsed / probe
    total = args.concurrency * args.requests
    print(
        f"{args.proxy:<9} {args.scheme:<5} {args.host:<13} {(busy - idle) / total / 1e6:7.3f} M "
        f"instructions/request ({total} requests in {elapsed:.0f} s, idle {idle / 1e6:.0f} M)"
    )
    for dump in seen if args.keep else ():
        (Path(args.keep) / f"{args.proxy}-{args.scheme}-{dump.name}").write_bytes(dump.read_bytes())


def run(args: argparse.Namespace, work: Path, started: list[Running]) -> None:
    certs = make_origin_certs(work, NAMES)
    ports = start_origin(certs, started)
    port = free_port()
    command = proxy_command(args.proxy, work, make_store(work, by_address=True), port)
    command += shared_options(certs, None)
    if args.tool == "callgrind":
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={work}/cg.out.%p",
            *command,
        ]
    proxy = start(command, work, args.proxy, started)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    for ca in (work / "confdir" / "mitmproxy-ca-cert.pem", certs.ca):
        context.load_verify_locations(cafile=str(ca))
    target = Target(port, args.scheme, HOSTS[args.host], ports[args.scheme])
    measured = Measurement(args, proxy.process.pid)
    phases = [(args.warmup, lambda: None), (args.requests, measured.begin)]
    asyncio.run(send(target, context, phases, args.concurrency))
    elapsed = measured.end()
    if args.tool == "callgrind":
        print_instructions(args, work, proxy.process.pid, elapsed)
        return
    total = args.concurrency * args.requests
    print(f"{args.proxy} {args.scheme} {args.host}: {total} requests in {elapsed:.1f} s")
    measured.print_threads(total)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__)
    parser.add_argument("--proxy", choices=("mitmdump", "leeway"), default="leeway")
    parser.add_argument("--scheme", choices=("http", "https"), default="http")
    parser.add_argument("--host", choices=tuple(HOSTS), default="categorised")
    parser.add_argument("--tool", choices=("callgrind", "pyspy", "none"), default="callgrind")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=20, help="requests per connection")
    parser.add_argument("--requests", type=int, default=50, help="measured, per connection")
    parser.add_argument("--idle", type=float, default=20.0, help="longest idle probe, seconds")
    parser.add_argument("--keep", help="callgrind: a directory for the dumps; pyspy: a file")
    args = parser.parse_args()
    started: list[Running] = []
    with tempfile.TemporaryDirectory(prefix="leeway-instructions-") as tmp:
        try:
            run(args, Path(tmp), started)
        finally:
            for running in reversed(started):
                running.stop()


if __name__ == "__main__":
    main()
