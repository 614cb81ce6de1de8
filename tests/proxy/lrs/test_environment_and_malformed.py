"""`training sync` configured by `LEEWAY_LRS_*` alone; a malformed statement reported, not fatal."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from policy import load_default_policy
from proxy.lrs.client import LrsClient
from proxy.lrs.sync import Syncer
from tests.lrs_server import PASSWORD, USER, statement
from tests.proxy.lrs.conftest import BASICS
from tests.proxy.lrs.test_sync import add_users, completions

if TYPE_CHECKING:
    import pytest
    from sqlalchemy.engine import Engine

    from tests.lrs_server import Ralph
    from tests.proxy.cli_support import Leeway


def test_every_option_can_come_from_its_environment_variable(
    leeway: Leeway, lrs: Ralph, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (email,) = add_users(db_url, 1)
    completed = statement(email, BASICS)
    lrs.post([completed])
    for name, value in {"URL": lrs.url, "USER": USER, "PASSWORD": PASSWORD}.items():
        monkeypatch.setenv(f"LEEWAY_LRS_{name}", value)
    monkeypatch.setenv("LEEWAY_LRS_PAGE_SIZE", "0")  # out of range: named with its variable
    refused = leeway("training", "sync")
    assert refused.code == 1
    assert "--page-size (LEEWAY_LRS_PAGE_SIZE)" in refused.err
    monkeypatch.setenv("LEEWAY_LRS_PAGE_SIZE", "5")
    result = leeway("training", "sync")
    assert result.code == 0, result.err
    assert "1 completions recorded" in result.out
    assert [source for _, _, source in completions(db_url)] == [f"xapi:{completed['id']}"]


def test_a_malformed_statement_is_reported_with_its_id_and_the_page_goes_on(
    engine: Engine, db_url: str
) -> None:
    (email,) = add_users(db_url, 1)
    good = {**statement(email, BASICS), "stored": datetime.now(UTC).isoformat()}
    broken_id = str(uuid.uuid4())
    broken = {**good, "id": broken_id, "verb": "completed"}  # a verb is an object
    syncer = Syncer(engine, LrsClient("http://127.0.0.1:9/xAPI"), load_default_policy())
    with Session(engine) as session:
        directory, names = syncer._directory(session)
    tally = syncer.apply([broken, good], directory, names, None)
    syncer.client.close()
    assert tally.applied == 1
    assert tally.skipped == {"malformed": 1}
    lines = tally.describe(syncer.client.url)
    assert f"skipped malformed statement {broken_id}: verb must be an object" in lines
    assert [source for _, _, source in completions(db_url)] == [f"xapi:{good['id']}"]
