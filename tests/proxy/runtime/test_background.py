"""Tests for proxy.runtime.background: policy reloads and address-map refreshes."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from addons.context import Leeway
from policy import Policy, load_policy
from proxy.runtime.address_book import AddressBook
from proxy.runtime.background import AddressRefresher, PolicyReloader
from proxy.store import models
from proxy.store.db import make_engine, session_factory
from tests.addons.fakes import make_leeway
from tests.policy.samples import TEST_POLICY
from tests.waiting import eventually_async

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.engine import Engine

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
EXTRA_CATEGORY = '\n[categories.games]\ndomains = ["games.example"]\n'


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(TEST_POLICY)
    return path


@pytest.fixture
def leeway(policy_file: Path) -> Leeway:
    leeway = make_leeway()
    leeway.policy = load_policy(policy_file)
    return leeway


def changed(path: Path) -> Policy:
    """Rewrite the policy file with one more category, and return what it now holds."""
    path.write_text(TEST_POLICY + EXTRA_CATEGORY)
    return load_policy(path)


def test_reload_swaps_in_the_new_policy_and_logs_both_revisions(
    leeway: Leeway, policy_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    old = leeway.policy.revision
    reloader = PolicyReloader(leeway, policy_file)
    new = changed(policy_file)
    with caplog.at_level(logging.INFO, logger="leeway"):
        asyncio.run(reloader.reload("SIGHUP"))
    assert leeway.policy.revision == new.revision != old
    assert leeway.policy.category_of("games.example") == ("games", "games.example")
    assert f"policy reloaded (SIGHUP): revision {old} -> {new.revision}" in caplog.text


def test_a_bad_file_is_refused_logged_and_the_old_policy_stays(
    leeway: Leeway, policy_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kept = leeway.policy
    policy_file.write_text(TEST_POLICY.replace('read = "warn"', 'read = "wran"', 1))
    message = "\n".join(refused_reload(leeway, policy_file, caplog))
    assert f"keeping revision {kept.revision}" in message
    assert "policy.toml: rule 'everyone': read: 'wran' is not one of" in message


def refused_reload(
    leeway: Leeway, policy_file: Path, caplog: pytest.LogCaptureFixture
) -> list[str]:
    """The lines of the error a SIGHUP reload of `policy_file` logs; the policy is kept."""
    kept = leeway.policy
    with caplog.at_level(logging.INFO, logger="leeway"):
        asyncio.run(PolicyReloader(leeway, policy_file).reload("SIGHUP"))
    assert leeway.policy is kept
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    return record.getMessage().splitlines()


def test_a_reload_logs_every_mistake_in_the_file_and_keeps_the_old_policy(
    leeway: Leeway, policy_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kept = leeway.policy
    broken = TEST_POLICY.replace('title = "Video awareness"\n', "")
    broken = broken.replace(
        'name = "everyone"\ncategories = ["social"]', 'name = "everyone"\ncategories = ["socail"]'
    )
    policy_file.write_text(broken)
    assert refused_reload(leeway, policy_file, caplog) == [
        f"policy reload (SIGHUP) refused, keeping revision {kept.revision}:",
        "policy.toml: module 'video': missing required key 'title' (line 16, modules.video.title)",
        "policy.toml: rule 'everyone': unknown category 'socail' (known: news, rich-media, social)"
        " (line 46, rules[2].categories[0])",
    ]


def test_a_policy_that_categorises_the_access_page_is_refused_on_reload(
    leeway: Leeway, policy_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kept = leeway.policy
    policy_file.write_text(TEST_POLICY + '\n[categories.games]\ndomains = ["internal"]\n')
    assert refused_reload(leeway, policy_file, caplog) == [
        f"policy reload (SIGHUP) refused, keeping revision {kept.revision}:",
        f"{policy_file}: the access page's host leeway.internal is in the category games"
        " (listed as internal): give --portal-host another name or take it out of the policy",
    ]


def test_a_missing_file_is_refused_and_the_old_policy_stays(
    leeway: Leeway, policy_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kept = leeway.policy
    policy_file.unlink()
    with caplog.at_level(logging.INFO, logger="leeway"):
        asyncio.run(PolicyReloader(leeway, policy_file).reload("SIGHUP"))
    assert leeway.policy is kept
    assert "policy.toml: cannot read" in caplog.text


def test_the_bundled_policy_has_nothing_to_reload(
    leeway: Leeway, caplog: pytest.LogCaptureFixture
) -> None:
    kept = leeway.policy
    with caplog.at_level(logging.INFO, logger="leeway"):
        asyncio.run(PolicyReloader(leeway, None).reload("SIGHUP"))
    assert leeway.policy is kept
    assert "nothing to reload" in caplog.text


def test_a_changed_file_is_reloaded_by_the_watcher(leeway: Leeway, policy_file: Path) -> None:
    async def scenario() -> None:
        reloader = PolicyReloader(leeway, policy_file, interval=0.02)
        reloader.running()
        try:
            await asyncio.sleep(0.05)
            new = changed(policy_file)
            await eventually_async(
                lambda: leeway.policy.revision == new.revision, "the new policy is in use"
            )
        finally:
            reloader.done()

    asyncio.run(scenario())


def test_the_watcher_survives_a_bad_file_and_picks_up_the_fix(
    leeway: Leeway, policy_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kept = leeway.policy

    async def scenario() -> None:
        reloader = PolicyReloader(leeway, policy_file, interval=0.02)
        task = asyncio.create_task(reloader._watch())
        try:
            policy_file.write_text("this is = not [toml")
            await eventually_async(lambda: "refused" in caplog.text, "the bad file is refused")
            assert leeway.policy is kept
            new = changed(policy_file)
            await eventually_async(
                lambda: leeway.policy.revision == new.revision, "the new policy is in use"
            )
            assert not task.done()
        finally:
            task.cancel()

    with caplog.at_level(logging.INFO, logger="leeway"):
        asyncio.run(scenario())
    assert "policy.toml: not valid TOML" in caplog.text


def test_the_sighup_handler_reloads(leeway: Leeway, policy_file: Path) -> None:
    async def scenario() -> None:
        reloader = PolicyReloader(leeway, policy_file, interval=3600)
        new = changed(policy_file)
        reloader._on_sighup()
        await eventually_async(
            lambda: leeway.policy.revision == new.revision, "the new policy is in use"
        )

    asyncio.run(scenario())


def _map(engine: Engine, network: str, username: str) -> None:
    with session_factory(engine).begin() as session:
        user = models.User(username=username, created_at=NOW)
        session.add(user)
        session.flush()
        session.add(models.ClientAddress(network=network, user_id=user.id, created_at=NOW))


def test_the_address_map_is_refreshed_while_running(engine: Engine) -> None:
    book = AddressBook()
    book.load(engine)
    assert book.lookup("10.0.0.7") is None

    async def scenario() -> None:
        refresher = AddressRefresher(book, engine, interval=0.02)
        refresher.running()
        try:
            await asyncio.to_thread(_map, engine, "10.0.0.0/24", "ada")
            await eventually_async(lambda: book.lookup("10.0.0.7") == "ada", "10.0.0.7 maps to ada")
        finally:
            refresher.done()

    asyncio.run(scenario())


def test_a_failed_refresh_keeps_the_map_and_warns(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _map(engine, "10.0.0.0/24", "ada")
    book = AddressBook()
    book.load(engine)
    unreachable = make_engine(f"sqlite:///{tmp_path / 'missing' / 'leeway.db'}")

    async def scenario() -> None:
        refresher = AddressRefresher(book, unreachable, interval=0.02)
        refresher.running()
        try:
            await eventually_async(
                lambda: caplog.text.count("address map not refreshed") >= 2,
                "two failed refreshes logged",
            )
        finally:
            refresher.done()

    try:
        with caplog.at_level(logging.WARNING, logger="leeway"):
            asyncio.run(scenario())
    finally:
        unreachable.dispose()
    assert book.lookup("10.0.0.7") == "ada"
