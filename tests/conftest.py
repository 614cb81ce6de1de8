"""Shared fixtures: a freshly migrated database per test, on SQLite and on PostgreSQL, and
one private OpenLDAP server for the session (`slapd`), each test in an OU of its own, and
one real LRS (Ralph) for the whole session, whichever directories use it.

PostgreSQL needs LEEWAY_TEST_POSTGRES_URL (a server where the user may create databases).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import uuid
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import create_engine, pool

from proxy.store.db import make_engine, normalise_url
from proxy.store.migrate import upgrade
from tests.ldif_people import sample_ldif
from tests.lrs_server import Ralph
from tests.slapd_server import Slapd

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from sqlalchemy.engine import URL, Engine

POSTGRES_URL_VARIABLE = "LEEWAY_TEST_POSTGRES_URL"

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


def _render(url: URL) -> str:
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    """An autocommit engine on the test server, for CREATE and DROP DATABASE."""
    raw = os.environ.get(POSTGRES_URL_VARIABLE)
    if not raw:
        pytest.skip(f"{POSTGRES_URL_VARIABLE} is not set: no PostgreSQL server to test against")
    engine = create_engine(
        normalise_url(raw), isolation_level="AUTOCOMMIT", poolclass=pool.NullPool
    )
    yield engine
    engine.dispose()


class PostgresDatabases:
    """Creates uniquely named databases on the test server and drops them again."""

    def __init__(self, admin: Engine) -> None:
        self.admin = admin

    def create(self, prefix: str, template: str | None = None) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        clause = f" TEMPLATE {template}" if template else ""
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {name}{clause}")
        return name

    def drop(self, name: str) -> None:
        # FORCE: a test that forgot to dispose its engine must not keep the database alive.
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def url(self, name: str) -> str:
        return _render(self.admin.url.set(database=name))


@pytest.fixture(scope="session")
def postgres_databases(postgres_admin: Engine) -> PostgresDatabases:
    return PostgresDatabases(postgres_admin)


@pytest.fixture(scope="session")
def postgres_template(postgres_databases: PostgresDatabases) -> Iterator[str]:
    """A database migrated to head once per session; each test gets a copy of it."""
    name = postgres_databases.create("leeway_tpl")
    try:
        upgrade(postgres_databases.url(name))
        yield name
    finally:
        postgres_databases.drop(name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per session; each test gets a copy of it."""
    path = tmp_path_factory.mktemp("template") / "leeway.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a database of its own for this test, migrated to head."""
    if request.param == "sqlite":
        path = tmp_path / "leeway.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    name = databases.create("leeway_t", template=request.getfixturevalue("postgres_template"))
    try:
        yield databases.url(name)
    finally:
        databases.drop(name)


@pytest.fixture(params=BACKENDS)
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database of its own for this test, never migrated."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    name = databases.create("leeway_t")
    try:
        yield databases.url(name)
    finally:
        databases.drop(name)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """The application's engine on this test's migrated database, disposed afterwards."""
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    """One real slapd for the session (tests/slapd_server.py); stopped by its pid at the end."""
    server = Slapd(tmp_path_factory.mktemp("slapd"))
    server.setup()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def directory_ou(slapd: Slapd) -> str:
    """An OU of this test's own on the session's slapd, with `sample_ldif`'s people and groups."""
    ou = slapd.new_ou()
    slapd.add(sample_ldif(ou))
    return ou


@pytest.fixture(scope="session")
def ralph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ralph]:
    """The session's LRS, started on first use (defined here so that tests/proxy/lrs and
    tests/e2e share one: a fixture defined in two places would start two)."""
    server = Ralph(tmp_path_factory.mktemp("ralph"))
    server.setup()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _root_logger_as_found() -> Iterator[None]:
    """Each test leaves the root logger as it found it. A test that runs a proxy in-process
    sets it to INFO (`configure_proxy_logging`), and a mitmproxy master left behind keeps a
    handler on it that sends every line to that master's loop, closed by then: either would
    change what the next test in the same process sees. The handlers pytest itself adds
    for each phase of a test are not touched."""
    root = logging.getLogger()
    level, handlers = root.level, set(root.handlers)
    yield
    root.setLevel(level)
    log = sys.modules.get("mitmproxy.log")  # loaded only by the tests that use mitmproxy
    if log is not None:
        for handler in set(root.handlers) - handlers:
            if isinstance(handler, log.MitmLogHandler):
                root.removeHandler(handler)
