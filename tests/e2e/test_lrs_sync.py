"""Training that arrives by itself: a completion posted to a real LRS (Ralph) opens a site
on a running `leeway run` after one `leeway training sync`, and its voiding closes it again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from proxy.cli import main as leeway
from tests.e2e.clients import PAGE, client
from tests.e2e.conftest import PASSWORDS
from tests.lrs_server import PASSWORD, USER, statement, voiding
from tests.proxy.lrs.conftest import BASICS, start_cursor_now
from tests.waiting import eventually

if TYPE_CHECKING:
    from pathlib import Path

    from tests.e2e.conftest import StartProxy
    from tests.e2e.origin import Origin
    from tests.lrs_server import Ralph


def sync(lrs: Ralph, db_url: str) -> None:
    code = leeway(["training", "sync", "--lrs", lrs.url, "--lrs-user", USER, "--db-url", db_url])
    assert code == 0


def test_a_completion_in_the_lrs_opens_the_site_and_its_voiding_closes_it(
    start_proxy: StartProxy,
    htpasswd: Path,
    http_origin: Origin,
    people: str,
    ralph: Ralph,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEEWAY_LRS_PASSWORD", PASSWORD)
    assert (
        leeway(["users", "add", "alice", "--email", "alice@example.org", "--db-url", people]) == 0
    )
    start_cursor_now(people, ralph.url)
    proxy = start_proxy("--proxyauth", f"@{htpasswd}")
    url = f"http://www.facebook.com:{http_origin.port}/feed"
    with client(proxy, login=("alice", PASSWORDS["alice"])) as http:

        def decision() -> str:
            return str(http.get(url, headers=PAGE).headers.get("X-Leeway-Decision", ""))

        assert decision().startswith("warn;")
        completed = statement("alice@example.org", BASICS)
        ralph.post([completed])
        sync(ralph, people)
        # Within the proxy's cache time (SQLite has no notifications).
        assert eventually(
            decision,
            "alice allowed after the sync",
            until=lambda d: d.startswith("allow;"),
            within=15,
        ).startswith("allow;")
        ralph.post([voiding(completed["id"])])
        sync(ralph, people)
        assert eventually(
            decision,
            "alice warned again after the voiding",
            until=lambda d: d.startswith("warn;"),
            within=15,
        ).startswith("warn;")
