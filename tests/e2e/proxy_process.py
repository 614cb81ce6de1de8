"""A real `leeway run` process with a private hosts file, started and stopped by pid."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.waiting import eventually

# The test sites listen on this loopback address, not on 127.0.0.1 where the proxies' own
# ports are: a proxy refuses loopback, so test proxies are allowed this one address only.
ORIGIN_ADDRESS = "127.0.0.50"
# Given to every test proxy (a test's own env wins): the origins' address, and CONNECT to
# the origins' ephemeral ports as well as 443.
DESTINATIONS_ENV = {
    "LEEWAY_ALLOW_DESTINATIONS": f"{ORIGIN_ADDRESS}/32",
    "LEEWAY_CONNECT_PORTS": "443,1025-65535",
}
# A name the private hosts file gives 127.0.0.1, as an attacker's DNS name would.
LOOPBACK_NAME = "loopback.example.net"
SITE_NAMES = [
    "www.facebook.com",
    "facebook.com",
    "static.xx.fbcdn.net",
    "x.com",
    "www.youtube.com",
    "i.ytimg.com",
    "www.example.org",
    "example.org",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_environment() -> dict[str, str]:
    """The environment without the developer's LEEWAY_* settings, which would change the run."""
    return {k: v for k, v in os.environ.items() if not k.startswith("LEEWAY_")}


def private_resolver(
    directory: Path, names: list[str], address: str = ORIGIN_ADDRESS
) -> tuple[Path, Path]:
    """A hosts file naming `names` at `address`, and a resolver that answers nothing else."""
    hosts = directory / "hosts"
    own = f"127.0.0.1 localhost {LOOPBACK_NAME}\n"
    hosts.write_text(own + "".join(f"{address} {n}\n" for n in names))
    resolv = directory / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    return hosts, resolv


@dataclass
class LeewayProcess:
    """`leeway run ARGS` in a mount namespace whose /etc/hosts names the test sites."""

    workdir: Path
    db_url: str
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    process: subprocess.Popen[str] | None = None
    stopping_at: float | None = None  # monotonic time of the SIGTERM
    stopped_in: float | None = None  # seconds from SIGTERM to exit

    @property
    def hosts(self) -> Path:
        """The process's /etc/hosts (bind-mounted: rewrite it in place, never replace it)."""
        return self.workdir / "hosts"

    @property
    def confdir(self) -> Path:
        return self.workdir / "confdir"

    @property
    def ca(self) -> Path:
        return self.confdir / "mitmproxy-ca-cert.pem"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "proxy.cli", "run",
            "--db-url", self.db_url,
            "--listen-port", str(self.port),
            "--metrics-port", str(self.metrics_port),
            "--confdir", str(self.confdir),
            *self.args,
        ]  # fmt: skip

    def start(self, timeout: float = 20.0) -> LeewayProcess:
        hosts, resolv = private_resolver(self.workdir, SITE_NAMES)
        inner = " ".join(shlex.quote(part) for part in self.command())
        script = (
            f"mount --bind {shlex.quote(str(hosts))} /etc/hosts && "
            f"mount --bind {shlex.quote(str(resolv))} /etc/resolv.conf && exec {inner}"
        )
        with (self.workdir / "leeway.log").open("w") as log:
            self.process = subprocess.Popen(
                ["unshare", "--mount", "sh", "-c", script],
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
                env={
                    **clean_environment(),
                    "LEEWAY_AUDIT_JOURNAL": str(self.workdir / "audit.journal"),
                    **DESTINATIONS_ENV,
                    **self.env,
                    "PYTHONUNBUFFERED": "1",
                },
                cwd=Path(__file__).resolve().parents[2],
            )
        self._wait_listening(timeout)
        return self

    def log(self) -> str:
        path = self.workdir / "leeway.log"
        return path.read_text() if path.exists() else ""

    def _wait_listening(self, timeout: float) -> None:
        process = self.process
        assert process is not None
        try:
            code = eventually(
                process.poll,
                f"leeway run listening on 127.0.0.1:{self.port}",
                until=lambda code: (
                    code is not None or ("listening on" in self.log() and self._accepts())
                ),
                within=timeout,
            )
        except AssertionError:
            self.stop()
            raise RuntimeError(f"leeway run did not start in {timeout}s:\n{self.log()}") from None
        if code is not None:
            raise RuntimeError(f"leeway run exited {code}:\n{self.log()}")

    def _accepts(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def stop(self, timeout: float = 5.0) -> int:
        """SIGTERM, and the exit code; a process still running after `timeout` is killed."""
        self.terminate()
        return self.wait_stopped(timeout)

    def terminate(self) -> None:
        """Send SIGTERM (once) and note when, for `wait_stopped`."""
        if self.process is not None and self.process.poll() is None and self.stopping_at is None:
            self.stopping_at = time.monotonic()
            self.process.send_signal(signal.SIGTERM)

    def wait_stopped(self, timeout: float = 5.0) -> int:
        """The exit code, waiting up to `timeout` seconds after SIGTERM; then it is killed
        and `subprocess.TimeoutExpired` raised."""
        if self.process is None:
            return 0
        started = self.stopping_at if self.stopping_at is not None else time.monotonic()
        try:
            code = self.process.wait(max(0.0, started + timeout - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        if self.stopping_at is not None and self.stopped_in is None:
            self.stopped_in = time.monotonic() - self.stopping_at
        return code
