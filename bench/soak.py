"""Memory under steady load: `leeway run` and bare `mitmdump` side by side for N minutes.

Both proxies take the same mixed load (`bench.soak_mix`, 50 connections each) at the same
time; their VmRSS is sampled all along. Target (issue 9): after the warm-up, Leeway's
memory grows no faster than bare mitmdump's. `--trace` runs both under tracemalloc
(`bench.soak_trace`) and prints what grew after the warm-up.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.proxy import ROOT, Running, shared_options, start_origin, wait_listening
from bench.soak_mix import NAMES
from bench.soak_trace import print_traces, signal_tracers
from proxy.cli import main as leeway
from tests.e2e.certs import OriginCerts, make_origin_certs
from tests.e2e.proxy_process import clean_environment, free_port, private_resolver

PROXIES = ("leeway", "mitmdump")
CONCURRENCY = 50
# Source address -> user: publishers (allowed everything social), trained staff (read
# allowed, posting warned), new staff (warned, posting blocked); the last three addresses
# are mapped to nobody (anonymous: the policy's default).
PEOPLE = {
    "publisher": ["comms-publisher", "social-media-basics", "social-media-publishing"],
    "staff": ["social-media-basics"],
    "new": [],
}
SOURCES = [f"127.0.0.{n}" for n in range(2, 14)]
MAPPED = dict(zip(SOURCES, [f"{kind}{i}" for kind in PEOPLE for i in range(1, 4)], strict=False))


@dataclass(slots=True)
class Sample:
    seconds: float
    rss: dict[str, float]  # MiB by proxy


@dataclass(slots=True)
class Soak:
    minutes: float
    warmup: float  # minutes
    every: float  # seconds between samples
    trace: bool
    samples: list[Sample] = field(default_factory=list)
    loads: dict[str, dict[str, object]] = field(default_factory=dict)  # last report by proxy


def run_leeway(*command: str) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        if leeway(list(command)) != 0:
            raise RuntimeError(f"leeway {' '.join(command)} failed")


def make_store(work: Path) -> str:
    url = f"sqlite:///{work / 'leeway.db'}"
    run_leeway("db", "upgrade", "--db-url", url)
    for address, username in MAPPED.items():
        kind = username.rstrip("0123456789")
        run_leeway("users", "add", username, "--department", kind.title(), "--db-url", url)
        for held in PEOPLE[kind]:
            if held == "comms-publisher":
                run_leeway("grants", "add", username, held, "--reason", "soak", "--db-url", url)
            else:
                run_leeway("training", "record", username, held, "--db-url", url)
        run_leeway("addresses", "add", f"{address}/32", username, "--db-url", url)
    return url


def proxy_commands(work: Path, certs: OriginCerts, trace: bool) -> dict[str, list[str]]:
    """The same options for both, as bench.proxy starts them."""
    confdir = str(work / "confdir")
    shared = shared_options(certs, None)
    bare = ["-q", "--listen-port", str(free_port()), "--set", f"confdir={confdir}"]
    bare += ["--set", "stream_large_bodies=1m", *shared]
    ours = ["run", "--db-url", make_store(work), "--listen-port", str(free_port())]
    ours += ["--confdir", confdir, "--metrics-port", str(free_port()), *shared]
    if trace:
        tracer = [sys.executable, "-m", "bench.soak_trace"]
        return {
            "mitmdump": [*tracer, str(work / "mitmdump.trace"), "mitmdump", *bare],
            "leeway": [*tracer, str(work / "leeway.trace"), "leeway", *ours],
        }
    mitmdump = str(Path(sys.executable).parent / "mitmdump")
    return {"mitmdump": [mitmdump, *bare], "leeway": [sys.executable, "-m", "proxy.cli", *ours]}


def start_proxy(name: str, command: list[str], work: Path, started: list[Running]) -> Running:
    """`command` in a mount namespace whose /etc/hosts sends NAMES to 127.0.0.1 (as
    bench.proxy does); `unshare` and `sh` exec, so the pid is the proxy's."""
    hosts, resolv = private_resolver(work, NAMES)
    script = (
        f"mount --bind {shlex.quote(str(hosts))} /etc/hosts && "
        f"mount --bind {shlex.quote(str(resolv))} /etc/resolv.conf && exec {shlex.join(command)}"
    )
    log = work / f"{name}.log"
    env = {**clean_environment(), "PYTHONPATH": str(ROOT)}
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["unshare", "--mount", "sh", "-c", script], stdout=out, stderr=out, cwd=work, env=env
        )
    running = Running(name, process, int(command[command.index("--listen-port") + 1]), log)
    started.append(running)
    wait_listening(running, 120.0)  # tracemalloc makes the start slow
    return running


def start_load(
    proxy: Running, ports: dict[str, int], cafiles: list[Path], until: float, started: list[Running]
) -> Running:
    command = [sys.executable, "-m", "bench.soak_mix", "--proxy-port", str(proxy.port)]
    command += ["--http-port", str(ports["http"]), "--https-port", str(ports["https"])]
    command += ["--concurrency", str(CONCURRENCY), "--until", str(until), "--every", "10"]
    command += [arg for source in SOURCES for arg in ("--source", source)]
    command += [arg for ca in cafiles for arg in ("--cafile", str(ca))]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, cwd=ROOT, text=True)
    assert process.stdout is not None  # stdout=PIPE
    os.set_blocking(process.stdout.fileno(), False)
    # Running holds any process it started; only this one reads its output, as text.
    running = Running(f"load-{proxy.name}", process)  # type: ignore[arg-type]
    started.append(running)
    return running


def read_reports(soak: Soak, loads: dict[str, Running]) -> None:
    for name, load in loads.items():
        assert load.process.stdout is not None
        for line in load.process.stdout.readlines():
            soak.loads[name] = json.loads(line)


def sample(soak: Soak, proxies: dict[str, Running], began: float) -> None:
    rss = {name: proxies[name].memory_mb()["VmRSS"] for name in PROXIES}
    soak.samples.append(Sample(time.monotonic() - began, rss))
    row = "  ".join(f"{name} {rss[name]:7.1f} MiB" for name in PROXIES)
    print(f"  {soak.samples[-1].seconds / 60:5.1f} min  {row}", file=sys.stderr, flush=True)


def drive(soak: Soak, proxies: dict[str, Running], loads: dict[str, Running]) -> None:
    """Sample every `every` seconds until the end; mark the warm-up for the tracers."""
    began = time.monotonic()
    end, warm = began + soak.minutes * 60, began + soak.warmup * 60
    traced_baseline = False
    sample(soak, proxies, began)
    while (now := time.monotonic()) < end:
        time.sleep(min(soak.every, end - now))
        sample(soak, proxies, began)
        read_reports(soak, loads)
        if soak.trace and not traced_baseline and time.monotonic() >= warm:
            signal_tracers([p.process for p in proxies.values()])
            traced_baseline = True
    if soak.trace:
        signal_tracers([p.process for p in proxies.values()])
    for load in loads.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            load.process.wait(20)
    read_reports(soak, loads)


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (minute, MiB) points, in KiB per minute."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx, my = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    sxy = sum((x - mx) * (y - my) for x, y in points)
    return sxy / sxx * 1024 if sxx else 0.0


def print_results(soak: Soak) -> None:
    print(f"  {'minute':>6}  {'leeway MiB':>10}  {'mitmdump MiB':>12}")
    for s in soak.samples:
        minute = s.seconds / 60
        if abs(minute - round(minute)) * 60 < soak.every / 2 or s is soak.samples[-1]:
            print(f"  {minute:6.1f}  {s.rss['leeway']:10.1f}  {s.rss['mitmdump']:12.1f}")
    after = [s for s in soak.samples if s.seconds >= soak.warmup * 60]
    slopes = {n: slope([(s.seconds / 60, s.rss[n]) for s in after]) for n in PROXIES}
    print(f"  growth after the {soak.warmup:g}-minute warm-up ({len(after)} samples):")
    for name in PROXIES:
        load = soak.loads.get(name, {})
        print(
            f"    {name:<9}{slopes[name]:+8.1f} KiB/min  ({load.get('responses', 0)} responses, "
            f"{load.get('connections', 0)} connections, {load.get('errors', 0)} errors, "
            f"statuses {load.get('statuses', {})})"
        )
    bare, ours = slopes["mitmdump"], slopes["leeway"]
    ratio = f"{ours / bare:.2f}" if bare > 0 else "n/a (mitmdump did not grow)"
    verdict = "meets" if ours <= max(bare, 0.0) + 1.0 else "MISSES"
    print(f"  leeway/mitmdump growth ratio: {ratio}; target (leeway <= mitmdump): {verdict}")
    # Leeway answers warned and blocked requests itself, so it serves more in a minute than
    # mitmdump under the same connections: growth per request served compares like for like.
    served = {n: soak.loads.get(n, {}).get("responses", 0) for n in PROXIES}
    rates = {n: float(str(served[n])) / max(soak.minutes, 1e-9) for n in PROXIES}
    if all(rates.values()):
        per_k = {n: slopes[n] / rates[n] * 1000 for n in PROXIES}
        verdict = "meets" if per_k["leeway"] <= max(per_k["mitmdump"], 0.0) + 0.1 else "MISSES"
        print(
            f"  per 1,000 responses: leeway {per_k['leeway']:+.1f} KiB, mitmdump"
            f" {per_k['mitmdump']:+.1f} KiB; target (leeway <= mitmdump): {verdict}"
        )
    if soak.trace:
        print("  (--trace: the curves include tracemalloc and its snapshots; compare untraced)")


def bench(work: Path, soak: Soak, started: list[Running]) -> None:
    certs = make_origin_certs(work, NAMES)
    ports = start_origin(certs, started)
    commands = proxy_commands(work, certs, soak.trace)
    proxies = {name: start_proxy(name, commands[name], work, started) for name in PROXIES}
    cafiles = [work / "confdir" / "mitmproxy-ca-cert.pem", certs.ca]
    until = time.time() + soak.minutes * 60
    loads = {n: start_load(proxies[n], ports, cafiles, until, started) for n in PROXIES}
    print(
        f"soak: {soak.minutes:g} min, leeway and mitmdump side by side, {CONCURRENCY} connections "
        f"each, VmRSS every {soak.every:g} s, load average {os.getloadavg()[0]:.1f} at the start"
    )
    drive(soak, proxies, loads)
    print_results(soak)
    if soak.trace:
        print_traces(work, {name: proxies[name].process for name in PROXIES})
    for name in PROXIES:
        if proxies[name].process.poll() is not None:
            print(f"  {name} exited during the soak:\n{proxies[name].log_tail()}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, help="minutes not counted (default: a sixth)")
    parser.add_argument("--every", type=float, default=60.0, help="seconds between samples")
    parser.add_argument("--trace", action="store_true", help="run both under tracemalloc")
    args = parser.parse_args([] if argv is None and __name__ != "__main__" else argv)
    warmup = args.warmup if args.warmup is not None else max(1.0, args.minutes / 6)
    soak = Soak(args.minutes, warmup, args.every, args.trace)
    started: list[Running] = []
    with tempfile.TemporaryDirectory(prefix="leeway-soak-") as tmp:
        try:
            bench(Path(tmp), soak, started)
        except RuntimeError as e:
            print(f"soak benchmark did not run: {e}")
        finally:
            for running in reversed(started):
                running.stop()


if __name__ == "__main__":
    main()
