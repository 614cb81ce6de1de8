"""Fixtures for the command-line tests: `leeway` run in-process against a test database."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from tests.proxy.cli_support import Leeway

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No LEEWAY_* variable from the developer's shell, and a working directory of our own."""
    for name in list(os.environ):
        if name.startswith("LEEWAY_") and name != "LEEWAY_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def leeway(db_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Leeway:
    return Leeway(db_url, capsys, tmp_path)
