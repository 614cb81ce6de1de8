"""Observability: the metrics endpoint of a proxy process, its refusals, and its wiring.

`serve()` listens where it is told or says why not; port 0 means no endpoint at all. What
the recorder is told shows in the registry the endpoint serves and reaches the audit trail.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import threading
from dataclasses import replace
from typing import TYPE_CHECKING

import httpx
import pytest

from addons.who import Who
from policy import Decision, Policy, Subject, load_default_policy, parse_policy
from policy.decision import Access, Action, Reason
from proxy.runtime.observability import Observability, ObservabilityConfig
from proxy.store.db import make_engine
from tests.policy.samples import NOW, TEST_POLICY

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from sqlalchemy.engine import Engine


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def engine(tmp_path: Path, sqlite_template: Path) -> Iterator[Engine]:
    """SQLite only: what is tested here does not depend on the backend."""
    path = tmp_path / "leeway.db"
    shutil.copyfile(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


@pytest.fixture
def policy() -> Policy:
    return load_default_policy()


@pytest.fixture
def config(tmp_path: Path) -> ObservabilityConfig:
    return ObservabilityConfig(metrics_port=free_port(), journal=tmp_path / "audit.journal")


@pytest.fixture
def watch(config: ObservabilityConfig, engine: Engine, policy: Policy) -> Iterator[Observability]:
    watch = Observability(config, engine, policy)
    yield watch
    asyncio.run(watch.stop())


def scrape(url: str) -> str:
    answer = httpx.get(url, timeout=5)
    assert answer.status_code == 200
    return answer.text


def test_metrics_are_served_at_the_url_it_names(
    watch: Observability, config: ObservabilityConfig, policy: Policy
) -> None:
    watch.serve()
    assert watch.metrics_url == f"http://127.0.0.1:{config.metrics_port}/metrics"
    body = scrape(watch.metrics_url)
    assert f'leeway_policy_info{{revision="{policy.revision}"}} 1.0' in body
    assert 'leeway_users_trained{module="social-media-basics"} 0.0' in body
    assert "leeway_audit_queue_depth 0.0" in body


def test_stop_closes_the_endpoint(watch: Observability) -> None:
    watch.serve()
    assert watch.metrics_url is not None
    scrape(watch.metrics_url)
    asyncio.run(watch.stop())
    with pytest.raises(httpx.ConnectError):
        httpx.get(watch.metrics_url, timeout=5)


def test_a_busy_port_is_refused_with_a_clear_message(watch: Observability) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", watch.config.metrics_port))
        busy.listen()
        with pytest.raises(OSError, match=r"^\[Errno \d+\] cannot serve metrics on ") as refused:
            watch.serve()
    message = str(refused.value)
    assert f"127.0.0.1:{watch.config.metrics_port}" in message
    assert "the port is already in use (choose another metrics port)" in message


def test_port_0_serves_nothing(config: ObservabilityConfig, engine: Engine, policy: Policy) -> None:
    watch = Observability(replace(config, metrics_port=0), engine, policy)
    threads = threading.active_count()
    watch.serve()
    assert watch.metrics_url is None
    assert threading.active_count() == threads, "no server thread was started"
    asyncio.run(watch.stop())


def test_what_the_recorder_is_told_is_served_and_audited(watch: Observability) -> None:
    watch.serve()
    assert watch.metrics_url is not None
    decision = Decision(
        action=Action.WARN,
        access=Access.READ,
        reason=Reason.RULE_MATCHED,
        host="www.facebook.com",
        category="social",
        rule="r",
        revision="x",
    )
    who = Who("wanda", "proxyauth", "10.0.0.5")
    watch.recorder.decided(decision, who, Subject("wanda"), 0.001, NOW)
    body = scrape(watch.metrics_url)
    line = 'leeway_decisions_total{action="warn",category="social",reason="rule_matched"} 1.0'
    assert line in body
    assert "leeway_audit_queue_depth 1.0" in body, "the event waits in the trail's queue"
    assert watch.audit.depth() == 1


def test_a_reloaded_policy_brings_its_revision_and_categories(watch: Observability) -> None:
    watch.serve()
    assert watch.metrics_url is not None
    reloaded = parse_policy(TEST_POLICY.encode(), source="test", label="policy.toml")
    watch.policy_changed(reloaded)
    body = scrape(watch.metrics_url)
    revisions = [line for line in body.splitlines() if line.startswith("leeway_policy_info{")]
    assert revisions == [f'leeway_policy_info{{revision="{reloaded.revision}"}} 1.0']
    assert 'leeway_requests_total{category="news"} 0.0' in body
    assert 'leeway_users_trained{module="basics"} 0.0' in body


def test_the_metrics_url_is_built_in_one_place() -> None:
    """The banner of one proxy and of a supervisor of workers both show this URL."""
    config = ObservabilityConfig(metrics_host="127.0.0.5", metrics_port=9999)
    assert config.metrics_url == "http://127.0.0.5:9999/metrics"
    assert replace(config, metrics_port=0).metrics_url is None
