"""Tests for `leeway run` (proxy.runtime.serve): refusals, the banner, signals, and reloads.

The proxy runs as a real `python -m proxy.cli run` process on a free port, with its
database and CA directory in the test's own directory, and is killed by pid afterwards.
"""

from __future__ import annotations

import http.server
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from policy import load_default_policy, load_policy
from policy.loader import default_policy_path
from proxy.runtime.startup import RunConfig, print_banner
from proxy.settings import Settings
from proxy.store.db import make_engine
from tests.waiting import eventually

pytestmark = pytest.mark.process
ROOT = Path(__file__).resolve().parents[3]
UNREACHABLE_DB = "postgresql+psycopg://postgres@127.0.0.1:1/x"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEEWAY_")}
    return {**env, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


@dataclass
class Proxy:
    """One `leeway run` process; `args` come after the port, CA directory and database."""

    workdir: Path
    args: tuple[str, ...] = ()
    port: int = field(default_factory=free_port)
    db_url: str = ""
    process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        db_url = self.db_url or f"sqlite:///{self.workdir / 'leeway.db'}"
        return [
            sys.executable, "-m", "proxy.cli", "run",
            "--listen-port", str(self.port),
            "--metrics-port", str(free_port()),
            "--confdir", str(self.workdir / "confdir"),
            "--db-url", db_url,
            *self.args,
        ]  # fmt: skip

    def refused(self) -> subprocess.CompletedProcess[str]:
        """Run it expecting it not to start."""
        return subprocess.run(
            self.command(),
            cwd=self.workdir,
            env=environment(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def start(self, timeout: float = 30.0) -> Proxy:
        with (
            (self.workdir / "stdout.log").open("wb") as out,
            (self.workdir / "stderr.log").open("wb") as err,
        ):
            self.process = subprocess.Popen(
                self.command(), cwd=self.workdir, env=environment(), stdout=out, stderr=err
            )
        self.wait_for("Leeway proxy listening on", timeout)
        return self

    @property
    def stdout(self) -> str:
        return (self.workdir / "stdout.log").read_text()

    @property
    def output(self) -> str:
        return self.stdout + (self.workdir / "stderr.log").read_text()

    def wait_for(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        """The first match of `pattern` in the output; fails if the process exits first."""
        process = self.process
        assert process is not None
        try:
            found, code = eventually(
                lambda: (re.search(pattern, self.output), process.poll()),
                f"{pattern!r} in the output of leeway run",
                until=lambda seen: seen[0] is not None or seen[1] is not None,
                within=timeout,
            )
        except AssertionError as e:
            pytest.fail(f"{e}:\n{self.output}")
        if found is None:
            pytest.fail(f"leeway run exited {code}:\n{self.output}")
        return found

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()


class Proxies:
    """Makes this test's proxies, and kills any still running afterwards, by pid."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.made: list[Proxy] = []

    def __call__(self, *args: str, port: int | None = None, db_url: str = "") -> Proxy:
        proxy = Proxy(self.workdir, args, port or free_port(), db_url)
        self.made.append(proxy)
        return proxy

    def kill_all(self) -> None:
        for proxy in self.made:
            proxy.kill()


@pytest.fixture
def leeway_run(tmp_path: Path) -> Iterator[Proxies]:
    proxies = Proxies(tmp_path)
    yield proxies
    proxies.kill_all()


def refusal_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


BAD_POLICY = """
[categories.social]
domains = ["x.com"]

[[rules]]
name = "everyone"
categories = ["social"]
read = "alow"
"""


def test_a_bad_policy_is_refused_in_one_line(tmp_path: Path, leeway_run: Proxies) -> None:
    (tmp_path / "bad.toml").write_text(BAD_POLICY)
    done = leeway_run("--policy", str(tmp_path / "bad.toml")).refused()
    assert refusal_line(done) == (
        "leeway run: policy refused: bad.toml: rule 'everyone': read: 'alow' is not one of"
        " allow, warn, block (line 8, rules[0].read)"
    )
    assert done.stdout == ""


def test_several_policy_mistakes_are_one_line_each(tmp_path: Path, leeway_run: Proxies) -> None:
    bad = BAD_POLICY + 'write = "blok"\n'
    (tmp_path / "bad.toml").write_text(bad)
    done = leeway_run("--policy", str(tmp_path / "bad.toml")).refused()
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) >= 2
    assert lines[0].startswith("leeway run: policy refused: bad.toml: ")
    assert all(line.startswith("bad.toml: ") for line in lines[1:])
    assert "blok" in done.stderr
    assert "alow" in done.stderr


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        pytest.param("proxyauht=alice:pw", "Unknown option(s): proxyauht", id="misspelt"),
        pytest.param("no_such_option=1", "Unknown option(s): no_such_option", id="unknown"),
        pytest.param(
            "ssl_insecure=maybe", "Failed to parse option ssl_insecure: boolean", id="bad value"
        ),
        pytest.param(
            "proxyauth=user:pw",
            "proxyauth: use --proxyauth SPEC (mitmproxy's own checks block the event loop)",
            id="mitmproxy's proxyauth",
        ),
    ],
)
def test_an_unknown_or_bad_mitmproxy_option_is_refused(
    leeway_run: Proxies, option: str, expected: str
) -> None:
    proxy = leeway_run("--set", option)
    line = refusal_line(proxy.refused())
    assert line.startswith(f"leeway run: mitmproxy option refused: {expected}")
    with socket.socket() as probe:  # nothing was left listening
        probe.bind(("127.0.0.1", proxy.port))


def test_proxyauth_over_socks5_is_refused(leeway_run: Proxies) -> None:
    line = refusal_line(leeway_run("--proxyauth", "any", "--set", "mode=socks5").refused())
    assert line == "leeway run: --proxyauth: sign-in over SOCKS5 is not supported (HTTP proxy only)"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("@/no/such/htpasswd", "Could not open htpasswd file: /no/such/htpasswd"),
        ("ldap:host:cn=svc:hunter2", "an LDAP sign-in is ldap[s]:HOST[:PORT]:BIND_DN:"),
    ],
)
def test_a_bad_proxyauth_spec_is_refused_without_its_password(
    leeway_run: Proxies, spec: str, expected: str
) -> None:
    line = refusal_line(leeway_run("--proxyauth", spec).refused())
    assert line.startswith(f"leeway run: --proxyauth refused: {expected}")
    assert "hunter2" not in line


@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [
        (
            "--allow-destinations",
            "10.0.0.0/8,intranet",
            "--allow-destinations (LEEWAY_ALLOW_DESTINATIONS): networks: 'intranet' is not a"
            " CIDR such as 10.0.0.0/8",
        ),
        (
            "--connect-ports",
            "443,https",
            "--connect-ports (LEEWAY_CONNECT_PORTS): ports: 'https' is not a port or a range"
            " such as 1025-65535",
        ),
        (
            "--http-ports",
            "80,0-100",
            "--http-ports (LEEWAY_HTTP_PORTS): ports: '0-100' is not within 1-65535, low to high",
        ),
    ],
)
def test_bad_destination_settings_are_refused(
    leeway_run: Proxies, flag: str, value: str, expected: str
) -> None:
    assert refusal_line(leeway_run(flag, value).refused()) == expected


def test_a_portal_host_the_policy_categorises_is_refused(leeway_run: Proxies) -> None:
    """The proxy answers the access page's name itself: a site of a category there would
    be neither decided nor reachable."""
    done = leeway_run("--portal-host", "www.facebook.com").refused()
    assert refusal_line(done) == (
        "leeway run: policy refused: (bundled) default_policy.toml: the access page's host"
        " www.facebook.com is in the category social (listed as facebook.com): give"
        " --portal-host another name or take it out of the policy"
    )


def test_a_port_in_use_is_refused(tmp_path: Path, leeway_run: Proxies) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        line = refusal_line(leeway_run(port=port).refused())
    assert line == f"leeway run: cannot listen on 127.0.0.1:{port}: already in use"


def test_an_unreachable_database_is_refused(tmp_path: Path, leeway_run: Proxies) -> None:
    line = refusal_line(leeway_run(db_url=UNREACHABLE_DB).refused())
    assert "postgres" in line
    assert "127.0.0.1" in line
    assert "unavailable" in line


@pytest.mark.slow
def test_the_banner_says_where_and_what(tmp_path: Path, leeway_run: Proxies) -> None:
    proxy = leeway_run().start()
    banner = proxy.stdout
    assert f"Leeway proxy listening on 127.0.0.1:{proxy.port}" in banner
    assert f"revision {load_default_policy().revision}" in banner
    assert f"database: sqlite:///{tmp_path / 'leeway.db'}" in banner
    ca = tmp_path / "confdir" / "mitmproxy-ca-cert.pem"
    assert f"CA certificate: {ca}" in banner
    assert ca.is_file()
    assert "http://mitm.it" in banner


def test_the_audit_journal_goes_beside_the_database_not_in_the_working_directory(
    tmp_path: Path, leeway_run: Proxies
) -> None:
    store = tmp_path / "store"
    store.mkdir()
    leeway_run(db_url=f"sqlite:///{store / 'office.db'}").start()
    assert (store / "office-audit.journal.lock").is_file()  # locked before listening
    assert sorted(p.name for p in tmp_path.iterdir() if "journal" in p.name) == []


def test_the_banner_masks_the_database_password(capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql://leeway:s3cret-pw@db.example:5432/leeway"
    engine = make_engine(url)
    try:
        config = RunConfig.from_settings(Settings(db_url=url, confdir=Path("/etc/leeway/ca")))
        print_banner(config, engine, load_default_policy())
    finally:
        engine.dispose()
    out = capsys.readouterr().out
    assert "s3cret-pw" not in out
    assert "database: postgresql+psycopg://leeway:***@db.example:5432/leeway" in out
    assert "CA certificate: /etc/leeway/ca/mitmproxy-ca-cert.pem" in out


def test_the_banner_names_the_access_page(capsys: pytest.CaptureFixture[str]) -> None:
    engine = make_engine("sqlite://")
    try:
        config = RunConfig.from_settings(Settings(portal_host="Access.Office.Example."))
        print_banner(config, engine, load_default_policy())
    finally:
        engine.dispose()
    assert "access page: http://access.office.example/ (and https://" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_it_cleanly(
    tmp_path: Path, leeway_run: Proxies, sig: signal.Signals
) -> None:
    proxy = leeway_run().start()
    assert proxy.process is not None
    began = time.monotonic()
    proxy.process.send_signal(sig)
    assert proxy.process.wait(timeout=5) == 0
    assert time.monotonic() - began < 5
    assert "Traceback" not in proxy.output


# Loopback, which a proxy refuses unless allowed (ALLOWING_THE_ORIGIN); not 127.0.0.1,
# where the proxy's own ports are.
ORIGIN_ADDRESS = "127.0.0.50"


class Origin(http.server.ThreadingHTTPServer):
    """A keep-alive HTTP/1.1 origin on ORIGIN_ADDRESS that answers every GET with its path."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__((ORIGIN_ADDRESS, 0), _Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://{ORIGIN_ADDRESS}:{self.server_address[1]}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = f"origin saw {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


ALLOWING_THE_ORIGIN = ("--allow-destinations", f"{ORIGIN_ADDRESS}/32")


@pytest.fixture
def origin() -> Iterator[Origin]:
    server = Origin()
    yield server
    server.stop()


def client_port(response: httpx.Response) -> int:
    """The local port of the client's connection to the proxy that carried `response`."""
    stream = response.extensions["network_stream"]
    return int(stream.get_extra_info("client_addr")[1])


@pytest.mark.slow
def test_sighup_reloads_the_policy_and_keeps_open_connections(
    tmp_path: Path, leeway_run: Proxies, origin: Origin
) -> None:
    policy_file = tmp_path / "policy.toml"
    policy_file.write_bytes(default_policy_path().read_bytes())
    old = load_policy(policy_file).revision
    proxy = leeway_run("--policy", str(policy_file), *ALLOWING_THE_ORIGIN).start()
    assert f"revision {old}" in proxy.stdout

    with httpx.Client(proxy=f"http://127.0.0.1:{proxy.port}", timeout=10) as client:
        before = client.get(f"{origin.url}/before")
        assert (before.status_code, before.text) == (200, "origin saw /before")

        policy_file.write_text(
            policy_file.read_text() + '\n[categories.games]\ndomains = ["games.example"]\n'
        )
        new = load_policy(policy_file).revision
        assert proxy.process is not None
        proxy.process.send_signal(signal.SIGHUP)
        proxy.wait_for(rf"policy reloaded \(SIGHUP\): revision \w+ -> {new}")

        after = client.get(f"{origin.url}/after")
        assert (after.status_code, after.text) == (200, "origin saw /after")
        assert client_port(after) == client_port(before)
    assert proxy.process.poll() is None


@pytest.mark.slow
def test_a_bad_policy_on_sighup_is_logged_and_the_old_one_kept(
    tmp_path: Path, leeway_run: Proxies, origin: Origin
) -> None:
    policy_file = tmp_path / "policy.toml"
    policy_file.write_bytes(default_policy_path().read_bytes())
    old = load_policy(policy_file).revision
    proxy = leeway_run("--policy", str(policy_file), *ALLOWING_THE_ORIGIN).start()
    policy_file.write_text(BAD_POLICY)
    assert proxy.process is not None
    proxy.process.send_signal(signal.SIGHUP)
    proxy.wait_for(rf"policy reload \(SIGHUP\) refused, keeping revision {old}")
    proxy.wait_for(r"policy.toml: rule 'everyone': read: 'alow'")
    with httpx.Client(proxy=f"http://127.0.0.1:{proxy.port}", timeout=10) as client:
        assert client.get(f"{origin.url}/still").text == "origin saw /still"
