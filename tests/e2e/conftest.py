"""Fixtures for end-to-end tests: origins, a store with people in it, a running proxy."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from proxy.cli import main as leeway
from tests.e2e.certs import OriginCerts, make_origin_certs
from tests.e2e.origin import Origin, start_origin
from tests.e2e.proxy_process import SITE_NAMES, LeewayProcess

type StartProxy = Callable[..., LeewayProcess]


@pytest.fixture(scope="session")
def origin_certs(tmp_path_factory: pytest.TempPathFactory) -> OriginCerts:
    return make_origin_certs(tmp_path_factory.mktemp("origin"), SITE_NAMES)


@pytest.fixture
def http_origin() -> Iterator[Origin]:
    origin = start_origin()
    yield origin
    origin.stop()


@pytest.fixture
def https_origin(origin_certs: OriginCerts) -> Iterator[Origin]:
    origin = start_origin(tls=(origin_certs.cert, origin_certs.key))
    yield origin
    origin.stop()


@pytest.fixture
def people(db_url: str) -> str:
    """The store with a cast: `alice` untrained, `trina` trained, `paul` a publisher."""
    commands = [
        ["users", "add", "alice", "--department", "Finance"],
        ["users", "add", "trina", "--department", "Policy"],
        ["users", "add", "paul", "--department", "Communications"],
        ["training", "record", "trina", "social-media-basics"],
        ["training", "record", "paul", "social-media-basics"],
        ["training", "record", "paul", "social-media-publishing"],
        ["grants", "add", "paul", "comms-publisher", "--reason", "press office"],
    ]
    for command in commands:
        assert leeway([*command, "--db-url", db_url]) == 0, command
    return db_url


@pytest.fixture
def start_proxy(tmp_path: Path, people: str, origin_certs: OriginCerts) -> Iterator[StartProxy]:
    """Start `leeway run` with extra arguments; every proxy started is stopped afterwards."""
    started: list[LeewayProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> LeewayProcess:
        workdir = tmp_path / f"proxy{len(started)}"
        workdir.mkdir()
        upstream = f"ssl_verify_upstream_trusted_ca={origin_certs.ca}"
        process = LeewayProcess(workdir, people, ["--set", upstream, *args], env or {})
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()


def client(proxy: LeewayProcess, origin_ca: Path | None = None, **kwargs: object) -> httpx.Client:
    """An httpx client through `proxy` that trusts its CA (and the origins' own, for the
    connections the proxy passes through untouched)."""
    context = ssl.create_default_context(cafile=str(proxy.ca))
    if origin_ca is not None:
        context.load_verify_locations(cafile=str(origin_ca))
    return httpx.Client(proxy=proxy.url, verify=context, timeout=10, **kwargs)  # type: ignore[arg-type]
