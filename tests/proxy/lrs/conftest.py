"""Fixtures for `leeway training sync`: the session's real Ralph LRS (`ralph`, in
tests/conftest.py) and a store that reads only new statements from it (so that tests
sharing it do not see each other's)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from proxy.store.db import make_engine
from proxy.store.models import XapiCursor
from tests.lrs_server import Ralph
from tests.proxy.cli_support import Leeway

BASICS = "https://learning.example.org/courses/social-media-basics"
PUBLISHING = "https://learning.example.org/courses/social-media-publishing"


def start_cursor_now(db_url: str, lrs_url: str) -> None:
    """Point the store's cursor for `lrs_url` at this moment: older statements are not read."""
    engine = make_engine(db_url)
    now = datetime.now(UTC)
    with Session(engine) as session, session.begin():
        session.merge(
            XapiCursor(lrs_url=lrs_url, stored=now, ids_at_stored=json.dumps([]), updated_at=now)
        )
    engine.dispose()


@pytest.fixture
def lrs(ralph: Ralph, db_url: str) -> Ralph:
    """The session's Ralph, with this test's store reading only what the test posts."""
    start_cursor_now(db_url, ralph.url)
    return ralph


@pytest.fixture
def leeway(db_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Leeway:
    return Leeway(db_url, capsys, tmp_path)


@pytest.fixture
def password_env(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.lrs_server import PASSWORD

    monkeypatch.setenv("LEEWAY_LRS_PASSWORD", PASSWORD)
