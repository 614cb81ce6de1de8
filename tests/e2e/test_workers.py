"""`leeway run --workers 2`: two proxy processes on one port under a supervisor.

Which worker serves a connection is read from the kernel (/proc): the worker process that
holds the server end of the client's TCP connection. The kernel picks the worker; the tests
open connections until they have one on each.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from tests.e2e.certs import OriginCerts
from tests.e2e.clients import PAGE, continue_form
from tests.e2e.conftest import CAST, Proxies, add_cast
from tests.e2e.origin import Origin
from tests.e2e.proxy_process import LeewayProcess
from tests.waiting import eventually

WORKERS = 2
PAUL = "127.0.0.3"  # a publisher: social sites open, no reminder
WENDY = "127.0.0.7"  # untrained: warned
NOBODY = "127.0.0.8"  # not in the address map: unidentified, warned
WORKER_CAST = [
    *CAST,
    ["users", "add", "wendy"],
    ["addresses", "add", f"{PAUL}/32", "paul"],
    ["addresses", "add", f"{WENDY}/32", "wendy"],
]


@pytest.fixture(scope="module")
def proxies(
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: Path,
    origin_certs: OriginCerts,
    mitmproxy_ca: Path,
) -> Iterator[Proxies]:
    directory = tmp_path_factory.mktemp("workers")
    shutil.copyfile(sqlite_template, directory / "leeway.db")
    db_url = add_cast(f"sqlite:///{directory / 'leeway.db'}", WORKER_CAST)
    proxies = Proxies(directory, db_url, origin_certs.ca, mitmproxy_ca)
    yield proxies
    proxies.stop_all()


@pytest.fixture(scope="module")
def proxy(proxies: Proxies) -> LeewayProcess:
    # A minute of cache: a Continue reaching the other worker must not be the cache expiring.
    return proxies.start("--workers", str(WORKERS), env={"LEEWAY_CACHE_TTL": "60"})


# -- which process serves what ------------------------------------------------------------


def worker_pids(proxy: LeewayProcess) -> set[int]:
    """The supervisor's worker processes (not multiprocessing's resource tracker)."""
    assert proxy.process is not None
    pid = proxy.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return {int(child) for child in children if b"spawn_main" in _cmdline(int(child))}


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return b""


def serving_worker(proxy: LeewayProcess, connection: http.client.HTTPConnection) -> int:
    """The worker holding the server end of `connection` (which has made a request)."""
    assert connection.sock is not None
    client_port = connection.sock.getsockname()[1]
    inode = _server_socket_inode(proxy.port, client_port)
    for pid in worker_pids(proxy):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if str(fd.readlink()) == f"socket:[{inode}]":
                    return pid
            except FileNotFoundError:
                continue
    raise AssertionError(f"no worker holds the connection from port {client_port}")


def _server_socket_inode(server_port: int, client_port: int) -> str:
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == (
            client_port
        ):
            return inode
    raise AssertionError(f"no connection from port {client_port} to {server_port}")


# -- clients ------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    body: str


def get(connection: http.client.HTTPConnection, url: str) -> Answer:
    connection.request("GET", url, headers=PAGE)
    response = connection.getresponse()
    return Answer(response.status, response.read().decode())


def post_continue(connection: http.client.HTTPConnection, site: str, page_html: str) -> Answer:
    form = continue_form(page_html)
    body = urlencode({"token": form.token, "next": form.next})
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Sec-Fetch-Site": "same-origin",
    }
    connection.request("POST", f"{site}{form.action}", body=body, headers=headers)
    response = connection.getresponse()
    return Answer(response.status, response.read().decode())


class Connections:
    """Keep-alive HTTP/1.1 connections to a proxy, each closed when the test ends."""

    def __init__(self) -> None:
        self.opened: list[http.client.HTTPConnection] = []

    def open(self, proxy: LeewayProcess, source: str) -> http.client.HTTPConnection:
        connection = http.client.HTTPConnection(
            "127.0.0.1", proxy.port, timeout=10, source_address=(source, 0)
        )
        self.opened.append(connection)
        return connection

    def on_every_worker(
        self, proxy: LeewayProcess, source: str, probe: str, most: int = 40
    ) -> list[http.client.HTTPConnection]:
        """Connections from `source`, one served by each worker (`probe` is fetched on each)."""
        found: dict[int, http.client.HTTPConnection] = {}
        for _ in range(most):
            connection = self.open(proxy, source)
            assert get(connection, probe).status == 200  # accepted and served: now held
            found.setdefault(serving_worker(proxy, connection), connection)
            if len(found) == WORKERS:
                return list(found.values())
        raise AssertionError(f"{most} connections all went to workers {sorted(found)}")

    def close(self) -> None:
        for connection in self.opened:
            connection.close()


@pytest.fixture
def connections() -> Iterator[Connections]:
    opened = Connections()
    yield opened
    opened.close()


def metric(proxy: LeewayProcess, sample: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{proxy.metrics_port}/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{sample} not in the metrics:\n{text}")


SOCIAL_REQUESTS = 'leeway_requests_total{category="social"}'


# -- the tests ----------------------------------------------------------------------------


def test_connections_are_spread_over_the_workers_and_the_metrics_add_up(
    proxy: LeewayProcess, module_http_origin: Origin, connections: Connections
) -> None:
    site = f"http://www.facebook.com:{module_http_origin.port}"
    assert len(worker_pids(proxy)) == WORKERS
    listening = eventually(
        lambda: metric(proxy, "leeway_workers"),
        f"{WORKERS} workers listening",
        until=lambda n: n == WORKERS,
        within=3.0,
    )
    assert listening == 2
    before = metric(proxy, SOCIAL_REQUESTS)
    served_by: set[int] = set()
    for _ in range(20):
        connection = connections.open(proxy, PAUL)
        assert get(connection, f"{site}/feed").status == 200
        served_by.add(serving_worker(proxy, connection))

    assert served_by == worker_pids(proxy)
    # Each worker sends its metrics every second; the supervisor serves their sum.
    total = eventually(
        lambda: metric(proxy, SOCIAL_REQUESTS),
        "the 20 requests counted",
        until=lambda n: n == before + 20,
        within=3.0,
    )
    assert total == before + 20


@pytest.mark.parametrize(("source", "who"), [(WENDY, "wendy"), (NOBODY, "unidentified")])
def test_a_continue_through_one_worker_is_honoured_by_the_other(
    proxy: LeewayProcess,
    module_http_origin: Origin,
    connections: Connections,
    source: str,
    who: str,
) -> None:
    site = f"http://www.facebook.com:{module_http_origin.port}"
    probe = f"http://www.example.org:{module_http_origin.port}/"
    one, other = connections.on_every_worker(proxy, source, probe)
    # The other worker warns first, and so holds the user's entitlements in its cache.
    assert get(other, f"{site}/").status == 403
    warning = get(one, f"{site}/")
    assert warning.status == 403, warning.body

    assert post_continue(one, site, warning.body).status == 303

    after = eventually(
        lambda: get(other, f"{site}/"),
        f"{who}'s Continue honoured by the other worker",
        until=lambda a: a.status == 200,
        within=1.0,
    )
    assert after.status == 200, f"{who}: {after.body[:200]}"


def test_sighup_reloads_the_policy_in_every_worker(proxy: LeewayProcess) -> None:
    said = "policy reload (SIGHUP)"
    before = proxy.log().count(said)
    proxy.signal(signal.SIGHUP)
    log = eventually(
        proxy.log,
        f"{said!r} logged by each worker",
        until=lambda text: text.count(said) == before + WORKERS,
        within=5.0,
    )
    assert log.count(said) == before + WORKERS


def test_a_dead_worker_is_replaced_and_the_counts_never_go_down(
    proxy: LeewayProcess, module_http_origin: Origin, connections: Connections
) -> None:
    site = f"http://www.facebook.com:{module_http_origin.port}"
    for _ in range(3):
        assert get(connections.open(proxy, PAUL), f"{site}/").status == 200
    time.sleep(1.5)  # every worker has sent its counts since
    before = metric(proxy, SOCIAL_REQUESTS)
    old = worker_pids(proxy)
    victim = min(old)

    os.kill(victim, signal.SIGKILL)
    # Connections already queued on a listener as it closes are reset (SO_REUSEPORT): a
    # client retries them. Once the process is gone (all its threads: the supervisor has
    # seen it exit), new ones go to the survivor alone.
    said = f"(pid {victim}) stopped"
    assert said in eventually(proxy.log, repr(said), until=lambda log: said in log, within=5.0)

    # The survivor serves meanwhile; a new worker takes the dead one's place.
    assert get(connections.open(proxy, PAUL), f"{site}/").status == 200
    pids = eventually(
        lambda: worker_pids(proxy),
        f"a new worker in place of {victim}",
        until=lambda p: len(p) == WORKERS and victim not in p,
        within=8,
    )
    assert victim not in pids and len(pids) == WORKERS
    listening = eventually(
        lambda: metric(proxy, "leeway_workers"),
        f"{WORKERS} workers listening again",
        until=lambda n: n == WORKERS,
        within=10.0,
    )
    assert listening == 2
    assert metric(proxy, "leeway_worker_restarts_total") == 1
    assert metric(proxy, SOCIAL_REQUESTS) >= before + 1


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_no_worker_outlives_the_supervisor(
    tmp_path: Path, proxies: Proxies, mitmproxy_ca: Path, how: str
) -> None:
    process = LeewayProcess(tmp_path, proxies.db_url, ["--workers", str(WORKERS)])
    shutil.copytree(mitmproxy_ca, process.confdir)
    process.start()
    workers = worker_pids(process)
    assert len(workers) == WORKERS

    if how == "SIGTERM":
        assert process.stop(5.0) == 0
    else:
        process.signal(signal.SIGKILL)  # workers see their pipe end and stop
        process.wait_stopped(5.0)

    alive = eventually(
        lambda: {pid for pid in workers if Path(f"/proc/{pid}").exists() and _running(pid)},
        "every worker gone",
        until=lambda left: not left,
        within=5.0,
    )
    assert alive == set()


def _running(pid: int) -> bool:
    """Not a zombie: a worker whose parent was killed is reaped by init, not us."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False
