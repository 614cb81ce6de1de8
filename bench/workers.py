"""`leeway run --workers 2` against `leeway run` (one process): keep-alive requests/s.

Issue 5: one process uses one core; two workers on this 2-core machine should serve more.
The load comes from two load generators at once (each half the connections), because one
asyncio load generator is itself bound to one core. Everything runs on the same two cores,
so the load generators and the origin take CPU from the workers: the ratio printed is what
this machine gives, not what two cores free for the proxy would.
"""

from __future__ import annotations

import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.proxy import (
    CATEGORISED,
    LEEWAY_DESTINATIONS,
    NAMES,
    Cell,
    Result,
    Running,
    combine,
    make_store,
    measure,
    shared_options,
    start_isolated,
    start_origin,
    summed_statuses,
)
from tests.e2e.certs import OriginCerts, make_origin_certs
from tests.e2e.proxy_process import free_port

WORKERS = (1, 2)
CELLS = [Cell("http", 50, CATEGORISED), Cell("https", 50, CATEGORISED)]
GENERATORS = 2


def start_leeways(work: Path, certs: OriginCerts, started: list[Running]) -> dict[int, Running]:
    url = make_store(work, by_address=True)
    confdir = str(work / "confdir")
    running = {}
    for workers in WORKERS:
        command = [sys.executable, "-m", "proxy.cli", "run", "--db-url", url]
        command += ["--listen-port", str(free_port()), "--confdir", confdir]
        command += ["--metrics-port", str(free_port()), "--workers", str(workers)]
        command += shared_options(certs, None) + LEEWAY_DESTINATIONS
        running[workers] = start_isolated(f"leeway-{workers}", command, work, started)
    return running


def measure_split(proxy: Running, cell: Cell, ports: dict[str, int], cafiles: list[Path]) -> Result:
    """`cell`'s connections from GENERATORS load generators at once; their rates summed."""
    part = Cell(cell.scheme, cell.concurrency // GENERATORS, cell.host)
    with ThreadPoolExecutor(GENERATORS) as pool:
        runs = [pool.submit(measure, proxy, part, ports, cafiles, None) for _ in range(GENERATORS)]
        results = [run.result() for run in runs]
    failed = [r for r in results if "failed" in r]
    if failed:
        return failed[0]
    return {
        "rate": sum(r["rate"] for r in results),
        "p50_ms": max(r["p50_ms"] for r in results),
        "p99_ms": max(r["p99_ms"] for r in results),
        "cpu_us": 0.0,  # the supervisor's CPU, not its workers': not comparable
        "statuses": summed_statuses(results),
        "errors": sum(r["errors"] for r in results),
        "issuer": results[0]["issuer"],
    }


def bench(work: Path, started: list[Running]) -> None:
    certs = make_origin_certs(work, NAMES)
    ports = start_origin(certs, started)
    proxies = start_leeways(work, certs, started)
    cafiles = [work / "confdir" / "mitmproxy-ca-cert.pem", certs.ca]
    load_before = os.getloadavg()[0]
    halves: dict[tuple[Cell, int], list[Result]] = {}
    for cell in CELLS:
        print(f"  measuring {cell.label.strip()}", file=sys.stderr, flush=True)
        for workers in (*WORKERS, *reversed(WORKERS)):  # A B B A: drift cancels out
            result = measure_split(proxies[workers], cell, ports, cafiles)
            halves.setdefault((cell, workers), []).append(result)
    results = {key: combine(parts) for key, parts in halves.items()}
    print(
        f"workers: keep-alive GETs from {GENERATORS} load generators, order A B B A; "
        f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, "
        f"on {os.cpu_count()} cores shared with the load generators and the origin"
    )
    print(f"  {'cell':<27}{'1 worker':>10}{'2 workers':>11}{'ratio':>7}{'noise':>7}")
    for cell in CELLS:
        one, two = results[cell, 1], results[cell, 2]
        if "failed" in one or "failed" in two:
            print(f"  {cell.label:<27}load failed: {one.get('failed') or two.get('failed')}")
            continue
        ratio = two["rate"] / one["rate"] if one["rate"] else 0.0
        noise = max(one["spread"], two["spread"])
        print(
            f"  {cell.label:<27}{one['rate']:>8.0f}/s{two['rate']:>9.0f}/s{ratio:>7.2f}"
            f"{noise:>7.0%}"
        )
        for workers, result in ((1, one), (2, two)):
            odd = {k: v for k, v in result["statuses"].items() if k != "200"}
            if odd or result["errors"]:
                print(f"    {workers} worker(s): non-200 {odd}, {result['errors']} errors")


def main() -> None:
    started: list[Running] = []
    with tempfile.TemporaryDirectory(prefix="leeway-bench-workers-") as tmp:
        try:
            bench(Path(tmp), started)
        except RuntimeError as e:
            print(f"workers benchmark did not run: {e}")
        finally:
            for running in reversed(started):
                running.stop()


if __name__ == "__main__":
    main()
