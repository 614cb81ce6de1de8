"""Starting and stopping `leeway run`: what it says when it starts, refusals to start
(exit 1, one clear line), SIGTERM and SIGINT within 5 seconds even with a client
connected, and SIGHUP reloading the policy without dropping a connection.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from policy import default_policy_path
from tests.e2e.clients import XHR, client
from tests.e2e.conftest import StartProxy
from tests.e2e.origin import Origin
from tests.e2e.proxy_process import LeewayProcess, clean_environment, free_port
from tests.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]


def test_it_says_where_it_listens_and_sigterm_stops_it_within_5_seconds(
    start_proxy: StartProxy, http_origin: Origin
) -> None:
    proxy = start_proxy()
    log = proxy.log()  # what it says when it starts
    assert f"Leeway proxy listening on 127.0.0.1:{proxy.port}" in log
    assert "policy:   (bundled) default_policy.toml (revision " in log
    assert f"database: {proxy.db_url}" in log
    assert f"CA certificate: {proxy.ca}" in log
    assert "http://mitm.it" in log
    # A client that keeps its connection open must not hold the proxy up.
    with client(proxy) as http:
        assert http.get(f"http://www.example.org:{http_origin.port}/").status_code == 200
        assert stops_on(proxy, signal.SIGTERM) == 0


def test_sighup_reloads_the_policy_and_sigint_stops_it(
    start_proxy: StartProxy, http_origin: Origin, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.toml"
    default = default_policy_path().read_text()
    policy.write_text(default)
    proxy = start_proxy("--policy", str(policy))
    url = f"http://www.facebook.com:{http_origin.port}/feed"
    with client(proxy) as http:  # one keep-alive connection throughout
        assert http.get(url, headers=XHR).status_code == 403
        opened = default.replace(
            'name = "social-everyone"              # sees the guidance first, and cannot post\n'
            'categories = ["social"]\nread = "warn"',
            'name = "social-everyone"\ncategories = ["social"]\nread = "allow"',
        )
        assert opened != default
        policy.write_text(opened)
        proxy.signal(signal.SIGHUP)
        eventually(
            lambda: http.get(url, headers=XHR).status_code == 200, "the opened policy in force"
        )
        policy.write_text(opened.replace('read = "allow"', 'read = "alow"', 1))
        proxy.signal(signal.SIGHUP)
        eventually(lambda: "policy reload (SIGHUP) refused" in proxy.log(), "the refusal logged")
        kept = http.get(url, headers=XHR).status_code
        assert stops_on(proxy, signal.SIGINT) == 0
    assert kept == 200, "a bad policy file leaves the last good one in force"
    assert "policy.toml" in proxy.log().split("policy reload (SIGHUP) refused")[1]


def stops_on(proxy: LeewayProcess, sig: signal.Signals) -> int:
    """Send `sig`; the exit code, once the process has stopped within 5 seconds, cleanly."""
    assert proxy.process is not None
    started = time.monotonic()
    proxy.signal(sig)
    code = proxy.process.wait(timeout=5)
    assert time.monotonic() - started < 5
    assert "Traceback" not in proxy.log()
    return code


@dataclass(frozen=True)
class Refusal:
    args: tuple[str, ...]
    says: str


def refusals(directory: Path, busy_port: int) -> dict[str, Refusal]:
    bad_policy = directory / "policy.toml"
    bad_policy.write_text(
        default_policy_path()
        .read_text()
        .replace(
            'categories = ["rich-media"]\nread = "warn"',
            'categories = ["rich-meda"]\nread = "warn"',
        )
    )
    return {
        "bad policy": Refusal(
            ("--policy", str(bad_policy)),
            "leeway run: policy refused: policy.toml: rule 'rich-media-everyone': "
            "unknown category 'rich-meda' (known: rich-media, social)",
        ),
        "unknown option": Refusal(("--set", "proxyauht=x"), "proxyauht"),
        "port in use": Refusal(
            ("--listen-port", str(busy_port)),
            f"leeway run: cannot listen on 127.0.0.1:{busy_port}: already in use",
        ),
        "database unreachable": Refusal(
            ("--db-url", "postgresql://leeway:secret@127.0.0.1:1/leeway"),
            "database postgresql://leeway:***@127.0.0.1:1/leeway is unavailable",
        ),
    }


type Refused = dict[tuple[str, int], tuple[Refusal, subprocess.CompletedProcess[str]]]
WORKERS = (1, 2)  # one process, and a supervisor with workers: the same refusals


@pytest.fixture(scope="module")
def refused(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Refused:
    """Every refusal, run at once (each is a Python start-up): (name, workers) -> (refusal,
    result)."""
    directory = tmp_path_factory.mktemp("refusals")
    with socket.create_server(("127.0.0.1", 0)) as busy:
        cases = refusals(directory, busy.getsockname()[1])
        running = {
            (name, workers): start_refused(directory, name, r, sqlite_template, workers)
            for name, r in cases.items()
            for workers in WORKERS
        }
        results: Refused = {}
        for key, process in running.items():
            try:
                out, err = process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                out, err = process.communicate()
            done = subprocess.CompletedProcess(process.args, process.returncode, out, err)
            results[key] = (cases[key[0]], done)
    return results


def start_refused(
    directory: Path, name: str, refusal: Refusal, template: Path, workers: int
) -> subprocess.Popen[str]:
    """`leeway run` in a directory of its own, on a migrated store unless it names one."""
    workdir = directory / f"{name.replace(' ', '-')}-{workers}"
    workdir.mkdir()
    shutil.copyfile(template, workdir / "leeway.db")  # the default store, already migrated
    args = ["--listen-port", str(free_port()), "--metrics-port", str(free_port())]
    args += ["--workers", str(workers)]
    args += ["--confdir", str(workdir / "confdir")]
    return subprocess.Popen(
        [sys.executable, "-m", "proxy.cli", "run", *args, *refusal.args],
        cwd=workdir,
        env={**clean_environment(), "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("workers", WORKERS)
@pytest.mark.parametrize(
    "name", ["bad policy", "unknown option", "port in use", "database unreachable"]
)
def test_it_refuses_to_start_with_one_clear_line(refused: Refused, name: str, workers: int) -> None:
    refusal, done = refused[name, workers]
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert refusal.says in lines[0]
    assert "secret" not in done.stderr
    assert "listening" not in done.stdout
