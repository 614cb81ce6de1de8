"""A real `leeway run` against bare `mitmdump` with the same options: keep-alive requests/s.

Targets (issue 3): Leeway reaches 90% of mitmdump's rate to a categorised host, and beats
intercepting mitmdump on an uncategorised HTTPS host, which it passes through undecrypted.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt

from proxy.cli import main as leeway
from tests.e2e.certs import OriginCerts, make_origin_certs
from tests.e2e.proxy_process import ORIGIN_ADDRESS, free_port, private_resolver

CATEGORISED = "www.facebook.com"  # social: the user below may read it
UNCATEGORISED = "www.example.org"
NAMES = [CATEGORISED, UNCATEGORISED]
USER, PASSWORD = "paul", "bench-only-password"
SCHEMES = ("http", "https")
CONCURRENCY = (10, 50)
WARMUP, DURATION = 1.0, 5.0
TARGET_RATIO = 0.90
PROXIES = ("mitmdump", "leeway")
ROOT = Path(__file__).resolve().parents[1]

type Result = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Cell:
    scheme: str
    concurrency: int
    host: str

    @property
    def categorised(self) -> bool:
        return self.host == CATEGORISED

    @property
    def label(self) -> str:
        kind = "categorised" if self.categorised else "uncategorised"
        return f"{self.scheme:<5} c={self.concurrency:<3} {kind}"


CELLS = [Cell(s, c, h) for s in SCHEMES for c in CONCURRENCY for h in NAMES]


@dataclass(slots=True)
class Running:
    """A process this benchmark started. `unshare` and `sh` exec, so the pid is the proxy."""

    name: str
    process: subprocess.Popen[bytes]
    port: int = 0
    log: Path | None = None

    def memory_mb(self) -> dict[str, float]:
        if self.process.poll() is not None:
            return {"VmRSS": 0.0, "VmHWM": 0.0}
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        pairs = (line.split(":", 1) for line in status.splitlines() if ":" in line)
        return {k: int(v.split()[0]) / 1024 for k, v in pairs if k in ("VmRSS", "VmHWM")}

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self) -> str:
        text = self.log.read_text(errors="replace") if self.log and self.log.exists() else ""
        return "\n".join(text.splitlines()[-15:])


def make_store(work: Path, by_address: bool) -> str:
    """A SQLite store with one trained publisher (and the address map naming them)."""
    url = f"sqlite:///{work / 'leeway.db'}"
    commands = [
        ["db", "upgrade"],
        ["users", "add", USER, "--department", "Communications"],
        ["training", "record", USER, "social-media-basics"],
        ["training", "record", USER, "social-media-publishing"],
        ["grants", "add", USER, "comms-publisher", "--reason", "benchmark"],
    ]
    if by_address:
        commands.append(["addresses", "add", "127.0.0.1/32", USER])
    with contextlib.redirect_stdout(io.StringIO()):
        for command in commands:
            if leeway([*command, "--db-url", url]) != 0:
                raise RuntimeError(f"leeway {' '.join(command)} failed")
    return url


def make_htpasswd(work: Path) -> Path:
    """Cost 5: about 2 ms a check, which mitmproxy pays for every plain-HTTP request."""
    path = work / "htpasswd"
    digest = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(5)).decode()
    path.write_text(f"{USER}:{digest}\n")
    return path


def start_origin(certs: OriginCerts, started: list[Running]) -> dict[str, int]:
    command = [sys.executable, "-m", "bench.loadgen", "origin"]
    command += ["--cert", str(certs.cert), "--key", str(certs.key)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, cwd=ROOT)
    started.append(Running("origin", process))
    assert process.stdout is not None
    line = process.stdout.readline()  # the origin prints its ports once it listens
    if not line:
        raise RuntimeError("the bench origin did not start")
    return {k: int(v) for k, v in json.loads(line).items()}


def start_isolated(name: str, command: list[str], work: Path, started: list[Running]) -> Running:
    """Run `command` in a mount namespace whose /etc/hosts sends NAMES to ORIGIN_ADDRESS."""
    hosts, resolv = private_resolver(work, NAMES)
    script = (
        f"mount --bind {shlex.quote(str(hosts))} /etc/hosts && "
        f"mount --bind {shlex.quote(str(resolv))} /etc/resolv.conf && exec {shlex.join(command)}"
    )
    log = work / f"{name}.log"
    # The developer's LEEWAY_* settings would change what is measured; files a proxy keeps
    # by a relative path (Leeway's audit journal) go to the temporary directory.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEEWAY_")}
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["unshare", "--mount", "sh", "-c", script], stdout=out, stderr=out, cwd=work, env=env
        )
    running = Running(name, process, int(command[command.index("--listen-port") + 1]), log)
    started.append(running)
    wait_listening(running, 30.0)
    return running


def wait_listening(running: Running, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            raise RuntimeError(f"{running.name} exited:\n{running.log_tail()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", running.port)):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{running.name} did not listen in {timeout:.0f} s:\n{running.log_tail()}")


def shared_options(certs: OriginCerts, htpasswd: Path | None) -> list[str]:
    options = ["--listen-host", "127.0.0.1", "--set", "connection_strategy=lazy"]
    options += ["--set", f"ssl_verify_upstream_trusted_ca={certs.ca}"]
    return options + (["--proxyauth", f"@{htpasswd}"] if htpasswd else [])


# `leeway run` refuses loopback destinations: the origin's address is allowed, and CONNECT
# to its ephemeral port (a proxy's own ports stay refused, as in production).
LEEWAY_DESTINATIONS = [
    *("--allow-destinations", f"{ORIGIN_ADDRESS}/32"),
    *("--connect-ports", "443,1025-65535"),
]


def start_proxies(
    work: Path, certs: OriginCerts, proxyauth: bool, started: list[Running]
) -> dict[str, Running]:
    """Bare mitmdump first (it makes the CA in the shared confdir), then `leeway run`."""
    url = make_store(work, by_address=not proxyauth)
    shared = shared_options(certs, make_htpasswd(work) if proxyauth else None)
    confdir = str(work / "confdir")
    mitmdump = str(Path(sys.executable).parent / "mitmdump")
    bare = [mitmdump, "-q", "--listen-port", str(free_port()), "--set", f"confdir={confdir}"]
    # Leeway streams bodies over 1 MB with its own Stream addon (mitmproxy's option, which
    # it leaves off, crashes on answered uploads); bare mitmdump needs the option for that.
    bare += ["--set", "stream_large_bodies=1m"]
    ours = [sys.executable, "-m", "proxy.cli", "run", "--db-url", url]
    ours += ["--listen-port", str(free_port()), "--confdir", confdir]
    ours += ["--metrics-port", str(free_port())]  # on as in production, off the default port
    ours += LEEWAY_DESTINATIONS
    return {
        "mitmdump": start_isolated("mitmdump", bare + shared, work, started),
        "leeway": start_isolated("leeway", ours + shared, work, started),
    }


def measure(  # noqa: PLR0913 (the cell, then keyword-only variations)
    proxy: Running,
    cell: Cell,
    ports: dict[str, int],
    cafiles: list[Path],
    login: str | None,
    *,
    seconds: float = DURATION / 2,
    extra: Sequence[str] = (),
) -> Result:
    """One run of bench.loadgen for `seconds` after the warm-up; `extra`: its other options."""
    command = [sys.executable, "-m", "bench.loadgen", "load", "--scheme", cell.scheme]
    command += ["--proxy-port", str(proxy.port), "--host", cell.host]
    command += ["--port", str(ports[cell.scheme]), "--concurrency", str(cell.concurrency)]
    command += ["--warmup", str(WARMUP), "--duration", str(seconds)]
    command += [arg for ca in cafiles for arg in ("--cafile", str(ca))]
    command += ["--login", login] if login else []
    command += ["--watch-pid", str(proxy.process.pid), *extra]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        out, err = process.communicate(timeout=WARMUP + seconds + 20)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
    if process.returncode != 0:
        return {"rate": 0.0, "failed": err.decode(errors="replace").strip().splitlines()[-1:]}
    result: Result = json.loads(out)
    return result


def run_cells(
    proxies: dict[str, Running], ports: dict[str, int], cafiles: list[Path], login: str | None
) -> dict[tuple[Cell, str], Result]:
    """Each cell in the order A B B A, half the duration each, so drift cancels out."""
    halves: dict[tuple[Cell, str], list[Result]] = {}
    for cell in CELLS:
        print(f"  measuring {cell.label.strip()}", file=sys.stderr, flush=True)
        for name in (*PROXIES, *reversed(PROXIES)):
            result = measure(proxies[name], cell, ports, cafiles, login)
            halves.setdefault((cell, name), []).append(result)
    return {key: combine(parts) for key, parts in halves.items()}


def combine(parts: list[Result]) -> Result:
    """The mean rate and mean quantiles of the halves; statuses and errors summed; `spread`:
    how far the halves' rates differ, relative to their mean (a gauge of the noise)."""
    failed = [p for p in parts if "failed" in p]
    if failed:
        return failed[0]
    statuses = summed_statuses(parts)
    keys = ("rate", "p50_ms", "p99_ms", "cpu_us")
    mean = {k: sum(p[k] for p in parts) / len(parts) for k in keys}
    rates = [p["rate"] for p in parts]
    spread = (max(rates) - min(rates)) / mean["rate"] if mean["rate"] else 0.0
    errors = sum(p["errors"] for p in parts)
    return {
        **mean,
        "spread": spread,
        "statuses": statuses,
        "errors": errors,
        "issuer": parts[0]["issuer"],
    }


def summed_statuses(parts: list[Result]) -> dict[str, int]:
    """Responses by status code over several measurements."""
    statuses: dict[str, int] = {}
    for part in parts:
        for status, count in part["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    return statuses


def tls_seen(result: Result) -> str:
    issuer = result.get("issuer", "")
    if not issuer:
        return ""
    return "intercepted" if issuer == "mitmproxy" else "passed through"


def notes(result: Result) -> str:
    if "failed" in result:
        return f"load failed: {result['failed']}"
    odd = {k: v for k, v in result["statuses"].items() if k != "200"}
    parts = [f"non-200 {odd}"] if odd else []
    return "; ".join([*parts, f"{result['errors']} errors"] if result["errors"] else parts)


def ratios(results: dict[tuple[Cell, str], Result], cell: Cell) -> tuple[float, float]:
    """Leeway over mitmdump: requests per second, and mitmdump's CPU per request over ours
    (what the rate ratio would be for a proxy bound by its own core, whatever else runs)."""
    bare, ours = results[cell, "mitmdump"], results[cell, "leeway"]
    rate = ours["rate"] / bare["rate"] if bare["rate"] else 0.0
    cpu = bare["cpu_us"] / ours["cpu_us"] if ours.get("cpu_us") and "cpu_us" in bare else 0.0
    return float(rate), float(cpu)


def print_table(results: dict[tuple[Cell, str], Result]) -> None:
    print(
        f"  {'cell':<27}{'mitmdump':>10}{'leeway':>10}{'ratio':>7}"
        f"{'CPU µs/req m/l':>16}{'ratio':>7}{'p50 ms m/l':>13}{'noise':>7}  leeway TLS"
    )
    for cell in CELLS:
        bare, ours = results[cell, "mitmdump"], results[cell, "leeway"]
        rate, cpu = ratios(results, cell)
        cpus = f"{bare.get('cpu_us', 0):.0f}/{ours.get('cpu_us', 0):.0f}"
        p50 = f"{bare.get('p50_ms', 0):.1f}/{ours.get('p50_ms', 0):.1f}"
        noise = max(bare.get("spread", 0.0), ours.get("spread", 0.0))
        print(
            f"  {cell.label:<27}{bare['rate']:>8.0f}/s{ours['rate']:>8.0f}/s{rate:>7.2f}"
            f"{cpus:>16}{cpu:>7.2f}{p50:>13}{noise:>7.0%}  {tls_seen(ours)}"
        )
        for name, result in (("mitmdump", bare), ("leeway", ours)):
            if note := notes(result):
                print(f"    {name}: {note}")


def print_targets(results: dict[tuple[Cell, str], Result]) -> None:
    print(f"  target: categorised host at {TARGET_RATIO:.0%} of mitmdump's requests/s or more")
    for cell in (c for c in CELLS if c.categorised):
        rate, cpu = ratios(results, cell)
        verdict = "meets" if rate >= TARGET_RATIO else "MISSES"
        print(f"    {cell.label:<27}{rate:>6.2f}  {verdict:<7} (by CPU per request: {cpu:.2f})")
    print("  target: uncategorised HTTPS, passed through, beats intercepting mitmdump")
    for cell in (c for c in CELLS if c.scheme == "https" and not c.categorised):
        rate, cpu = ratios(results, cell)
        verdict = "meets" if rate > 1.0 else "MISSES"
        print(f"    {cell.label:<27}{rate:>6.2f}  {verdict:<7} (by CPU per request: {cpu:.2f})")


def print_memory(proxies: dict[str, Running]) -> None:
    parts = []
    for name in PROXIES:
        memory = proxies[name].memory_mb()
        parts.append(f"{name} {memory['VmRSS']:.0f} MB (peak {memory['VmHWM']:.0f} MB)")
    print("  proxy memory after the run, VmRSS: " + "; ".join(parts))


# Fair by default: the address map leaves mitmproxy's own work identical in both proxies.
# With --proxyauth, mitmdump checks bcrypt on every plain-HTTP request and Leeway does not.
IDENTITIES = {
    False: "Leeway's address map (mitmdump identifies nobody)",
    True: "--proxyauth, bcrypt cost 5 (plain HTTP: mitmdump checks each request, Leeway caches)",
}


def print_header(proxyauth: bool, load_before: float) -> None:
    print(
        f"proxy throughput: keep-alive GETs, {DURATION:.0f} s a cell and proxy in two halves "
        f"(order A B B A, each after a {WARMUP:.0f} s warm-up)"
    )
    print(f"  user {USER}, a trained publisher, identified by {IDENTITIES[proxyauth]}")
    print(
        f"  load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on "
        f"{os.cpu_count()} cores; the run adds about 1.5, anything more skews the figures"
    )
    print(
        "  m/l: mitmdump/leeway; ratios: leeway's rate over mitmdump's, mitmdump's CPU over ours;"
    )
    print("  noise: the larger gap between one proxy's two halves, relative to their mean")


def bench(work: Path, proxyauth: bool, started: list[Running]) -> None:
    certs = make_origin_certs(work, NAMES)
    ports = start_origin(certs, started)
    proxies = start_proxies(work, certs, proxyauth, started)
    cafiles = [work / "confdir" / "mitmproxy-ca-cert.pem", certs.ca]
    login = f"{USER}:{PASSWORD}" if proxyauth else None
    load_before = os.getloadavg()[0]
    results = run_cells(proxies, ports, cafiles, login)
    print_header(proxyauth, load_before)
    print_table(results)
    print_memory(proxies)
    print_targets(results)
    for name in PROXIES:
        if proxies[name].process.poll() is not None:
            print(f"  {name} exited during the run:\n{proxies[name].log_tail()}")


def main(proxyauth: bool = False) -> None:
    started: list[Running] = []
    with tempfile.TemporaryDirectory(prefix="leeway-bench-") as tmp:
        try:
            bench(Path(tmp), proxyauth, started)
        except RuntimeError as e:
            print(f"proxy benchmark did not run: {e}")
        finally:
            for running in reversed(started):
                running.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.proxy", description=__doc__)
    parser.add_argument(
        "--proxyauth", action="store_true", help="identify by --proxyauth on both proxies"
    )
    main(parser.parse_args().proxyauth)
