"""Fixtures for end-to-end tests: origins, a store with people in it, running proxies.

End-to-end tests run on SQLite only (the `db_url` override below); the outage test makes
its own PostgreSQL database. Starting a proxy costs seconds, so two proxies serve the
whole session on one shared store: `auth_proxy` (everyone logs in, htpasswd) and
`open_proxy` (a trusted header from 127.0.0.2, the address map, and everyone else
unidentified). Tests that change what a user may do (a Continue) each use a user, or a
client address, of their own, so that they do not depend on each other's order.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bcrypt
import pytest
from mitmproxy import certs

from proxy.cli import main as leeway
from tests.e2e.certs import OriginCerts, make_origin_certs
from tests.e2e.origin import Origin, start_origin
from tests.e2e.private_postgres import PrivatePostgres, server_bindir, unusable_reason
from tests.e2e.proxy_process import SITE_NAMES, LeewayProcess

type StartProxy = Callable[..., LeewayProcess]

TRUSTED_HEADER = "X-Authenticated-User"
TRUSTED_PEER = "127.0.0.2"
TRINAS_ADDRESS = "127.0.0.3"  # in the address map of the shared store

# Everyone's proxy password. `alice` is untrained, `trina` trained and `paul` a publisher
# (CAST); `rita`'s training runs out in 5 days and `tess` is trained like trina (SHARED).
# The others are in no store: untrained users, one for each test that clicks Continue.
PASSWORDS = {
    name: f"{name}-secret"
    for name in (
        *("alice", "trina", "paul", "rita", "tess"),
        *("ann", "bea", "cal", "dan", "eve", "fay", "gus"),
    )
}
CAST = [
    ["users", "add", "alice", "--department", "Finance"],
    ["users", "add", "trina", "--department", "Policy"],
    ["users", "add", "paul", "--department", "Communications"],
    ["training", "record", "trina", "social-media-basics"],
    ["training", "record", "paul", "social-media-basics"],
    ["training", "record", "paul", "social-media-publishing"],
    ["grants", "add", "paul", "comms-publisher", "--reason", "press office"],
]


def shared_cast() -> list[list[str]]:
    """The cast, and the users and the address the shared proxies' tests need besides."""
    nearly_a_year_ago = (datetime.now(UTC) - timedelta(days=360)).isoformat()
    return [
        *CAST,
        ["users", "add", "rita"],
        ["training", "record", "rita", "social-media-basics", "--completed-at", nearly_a_year_ago],
        ["users", "add", "tess"],
        ["training", "record", "tess", "social-media-basics"],
        ["addresses", "add", f"{TRINAS_ADDRESS}/32", "trina"],
    ]


def add_cast(db_url: str, commands: list[list[str]] = CAST) -> str:
    """Put the cast in the store at `db_url`; returns the URL."""
    for command in commands:
        assert leeway([*command, "--db-url", db_url]) == 0, command
    return db_url


@pytest.fixture
def db_url(tmp_path: Path, sqlite_template: Path) -> str:
    """End-to-end tests run on SQLite: the proxy's own behaviour does not depend on the
    backend, and the store's tests cover both. (Overrides the parametrised fixture.)"""
    path = tmp_path / "leeway.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def people(db_url: str) -> str:
    """The store with the cast: `alice` untrained, `trina` trained, `paul` a publisher."""
    return add_cast(db_url)


@pytest.fixture(scope="session")
def shared_db_url(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> str:
    """The store of the proxies that serve the whole session."""
    path = tmp_path_factory.mktemp("shared-db") / "leeway.db"
    shutil.copyfile(sqlite_template, path)
    return add_cast(f"sqlite:///{path}", shared_cast())


@pytest.fixture(scope="module")
def private_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivatePostgres]:
    """A running PostgreSQL server for one module alone, which its tests may restart; it
    is stopped and removed afterwards whatever happened (its log is kept in tmp)."""
    bindir = server_bindir()
    if (why := unusable_reason(bindir)) is not None:
        pytest.skip(f"no private PostgreSQL server: {why}")
    assert bindir is not None
    server = PrivatePostgres(bindir)
    try:
        server.initdb()
        server.start()
        yield server
    finally:
        server.destroy(keep_log=tmp_path_factory.mktemp("private-postgres") / "server.log")


@pytest.fixture(scope="session")
def htpasswd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An htpasswd file for everyone in PASSWORDS (bcrypt of low cost: checks are fast)."""
    path = tmp_path_factory.mktemp("auth") / "htpasswd"
    salt = bcrypt.gensalt(5)
    lines = [
        f"{name}:{bcrypt.hashpw(password.encode(), salt).decode()}\n"
        for name, password in PASSWORDS.items()
    ]
    path.write_text("".join(lines))
    return path


@pytest.fixture(scope="session")
def origin_certs(tmp_path_factory: pytest.TempPathFactory) -> OriginCerts:
    return make_origin_certs(tmp_path_factory.mktemp("origin"), SITE_NAMES)


@pytest.fixture(scope="session")
def mitmproxy_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A mitmproxy CA directory made once, copied to each proxy's confdir (saves a key)."""
    directory = tmp_path_factory.mktemp("mitmproxy-ca")
    certs.CertStore.from_store(str(directory), "mitmproxy", 2048)
    return directory


@pytest.fixture(scope="module")
def module_http_origin() -> Iterator[Origin]:
    origin = start_origin()
    yield origin
    origin.stop()


@pytest.fixture(scope="module")
def module_https_origin(origin_certs: OriginCerts) -> Iterator[Origin]:
    origin = start_origin(tls=(origin_certs.cert, origin_certs.key))
    yield origin
    origin.stop()


@pytest.fixture
def http_origin(module_http_origin: Origin) -> Origin:
    """The module's plain origin, with nothing seen yet by this test."""
    module_http_origin.seen.clear()
    return module_http_origin


@pytest.fixture
def https_origin(module_https_origin: Origin) -> Origin:
    """The module's TLS origin, with nothing seen yet by this test."""
    module_https_origin.seen.clear()
    return module_https_origin


class Proxies:
    """Starts `leeway run` processes and, at the end, checks that each stops on SIGTERM
    within 5 seconds with exit code 0, and that none logged a traceback (nothing raised
    out of a hook, no connection crashed) while the tests used it."""

    def __init__(self, directory: Path, db_url: str, origin_ca: Path, ca: Path) -> None:
        self.directory = directory
        self.db_url = db_url
        self.origin_ca = origin_ca
        self.ca = ca
        self.started: list[LeewayProcess] = []

    def start(
        self, *args: str, env: dict[str, str] | None = None, db_url: str | None = None
    ) -> LeewayProcess:
        workdir = self.directory / f"proxy{len(self.started)}"
        workdir.mkdir()
        upstream = f"ssl_verify_upstream_trusted_ca={self.origin_ca}"
        process = LeewayProcess(
            workdir, db_url or self.db_url, ["--set", upstream, *args], env or {}
        )
        shutil.copytree(self.ca, process.confdir)
        self.started.append(process)
        return process.start()

    def stop_all(self) -> None:
        for process in self.started:
            process.terminate()  # all at once: they stop in parallel
        failures = []
        for process in self.started:
            try:
                code = process.wait_stopped(5.0)
            except subprocess.TimeoutExpired:
                failures.append(f"{process.workdir.name}: still running 5 s after SIGTERM")
                continue
            if code != 0:
                failures.append(f"{process.workdir.name}: exit code {code}\n{process.log()}")
            elif "Traceback" in process.log():
                failures.append(f"{process.workdir.name}: logged a traceback\n{process.log()}")
        assert not failures, "\n".join(failures)


@pytest.fixture(scope="session")
def shared_proxies(
    tmp_path_factory: pytest.TempPathFactory,
    shared_db_url: str,
    origin_certs: OriginCerts,
    mitmproxy_ca: Path,
) -> Iterator[Proxies]:
    proxies = Proxies(
        tmp_path_factory.mktemp("shared-proxies"), shared_db_url, origin_certs.ca, mitmproxy_ca
    )
    yield proxies
    proxies.stop_all()


@pytest.fixture(scope="session")
def auth_proxy(shared_proxies: Proxies, htpasswd: Path) -> LeewayProcess:
    """Everyone logs in to this proxy (htpasswd, PASSWORDS)."""
    return shared_proxies.start("--proxyauth", f"@{htpasswd}")


@pytest.fixture(scope="session")
def open_proxy(shared_proxies: Proxies) -> LeewayProcess:
    """No login: the trusted header from TRUSTED_PEER, the address map, or nobody."""
    return shared_proxies.start(
        "--trusted-header", TRUSTED_HEADER, "--trusted-peers", f"{TRUSTED_PEER}/32,10.9.0.0/16"
    )


@pytest.fixture(scope="module")
def module_proxies(
    tmp_path_factory: pytest.TempPathFactory,
    shared_db_url: str,
    origin_certs: OriginCerts,
    mitmproxy_ca: Path,
) -> Iterator[Proxies]:
    """Proxies of one module's own configuration, on the shared store."""
    proxies = Proxies(
        tmp_path_factory.mktemp("proxies"), shared_db_url, origin_certs.ca, mitmproxy_ca
    )
    yield proxies
    proxies.stop_all()


@pytest.fixture
def start_proxy(
    tmp_path: Path, people: str, origin_certs: OriginCerts, mitmproxy_ca: Path
) -> Iterator[StartProxy]:
    """Start `leeway run` with extra arguments, for one test; every proxy started is
    stopped afterwards (and must stop cleanly)."""
    proxies = Proxies(tmp_path, people, origin_certs.ca, mitmproxy_ca)
    yield proxies.start
    proxies.stop_all()
