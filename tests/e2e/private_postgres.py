"""A PostgreSQL server of the tests' own, which they may stop and restart at will.

The shared server (LEEWAY_TEST_POSTGRES_URL) serves other tests at the same time, so it
must never be restarted. This one listens on 127.0.0.1 only, on a free port, with its
socket in its own directory, and trusts every local connection. initdb and postgres
refuse to run as root, so as root they run as the `postgres` OS user; the directory is
then made in the system's temporary directory, since pytest's own (mode 0700, and put
back to 0700 by every pytest session that starts) is closed to that user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from sqlalchemy import create_engine, pool

from tests.e2e.proxy_process import free_port

OS_USER = "postgres"
PG_CTL_WAIT = 30  # seconds pg_ctl may wait for the server to start or stop
# The data is thrown away afterwards: durability only costs time.
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "log_min_messages": "warning",
}


def server_bindir() -> Path | None:
    """The directory of initdb and pg_ctl: `pg_config --bindir`, else the newest
    /usr/lib/postgresql/*/bin; None when neither has them."""
    candidates: list[Path] = []
    if pg_config := shutil.which("pg_config"):
        done = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=False
        )
        if done.returncode == 0:
            candidates.append(Path(done.stdout.strip()))
    installed = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(installed, key=lambda p: _version(p.parent.name), reverse=True)
    return next((c for c in candidates if (c / "initdb").exists()), None)


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def unusable_reason(bindir: Path | None) -> str | None:
    """Why a private server cannot be run here, or None."""
    if bindir is None:
        return "no PostgreSQL server binaries (initdb): install the postgresql package"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(OS_USER)
        except KeyError:
            return f"running as root and there is no {OS_USER!r} OS user to run PostgreSQL as"
    return None


class PrivatePostgres:
    """initdb'd into a directory of its own; `start`, `stop`, `restart`, then `destroy`."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="leeway-postgres-"))
        self.data = self.directory / "data"
        self.logfile = self.directory / "server.log"
        if os.geteuid() == 0:
            account = pwd.getpwnam(OS_USER)
            os.chown(self.directory, account.pw_uid, account.pw_gid)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def initdb(self) -> None:
        self._run(
            "initdb", "--pgdata", str(self.data), "--username", "postgres", "--auth", "trust",
            "--encoding", "UTF8", "--locale", "C", "--no-sync",
        )  # fmt: skip
        settings = {
            **SETTINGS,
            "port": str(self.port),
            "unix_socket_directories": f"'{self.directory}'",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())

    def start(self) -> None:
        self._pg_ctl("start", "--log", str(self.logfile))

    def stop(self) -> None:
        self._pg_ctl("stop", "--mode", "fast")

    def restart(self) -> None:
        """Stop (disconnecting every client) and start again, as an operator would."""
        self._pg_ctl("restart", "--mode", "fast", "--log", str(self.logfile))

    def create_database(self, name: str) -> str:
        """A new empty database; its URL."""
        admin = create_engine(self.url(), isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
        try:
            with admin.connect() as connection:
                connection.exec_driver_sql(f"CREATE DATABASE {name}")
        finally:
            admin.dispose()
        return self.url(name)

    def log(self) -> str:
        return self.logfile.read_text() if self.logfile.exists() else ""

    def destroy(self, keep_log: Path) -> None:
        """Stop the server whatever state it is in, keep its log, remove its directory."""
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            if (self.data / "postmaster.pid").exists():
                self._pg_ctl("stop", "--mode", "immediate")
        if self.logfile.exists():
            shutil.copyfile(self.logfile, keep_log)
        shutil.rmtree(self.directory, ignore_errors=True)

    def _pg_ctl(self, action: str, *args: str) -> None:
        self._run(
            "pg_ctl", action, "--pgdata", str(self.data), "--wait",
            "--timeout", str(PG_CTL_WAIT), *args,
        )  # fmt: skip

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bindir / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", OS_USER, "--", *command]
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=PG_CTL_WAIT + 10,
            check=False,
            cwd=self.directory,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{program} {' '.join(args)}: exit {done.returncode}\n"
                f"{done.stdout}{done.stderr}\n{self.log()}"
            )
