"""Running `leeway` in-process in tests, and reading back what it wrote."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from proxy.cli import main

if TYPE_CHECKING:
    from pathlib import Path

    import pytest
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import DeclarativeBase


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


class Leeway:
    """Runs `leeway` commands in-process on one database, capturing their output."""

    def __init__(self, db_url: str, capsys: pytest.CaptureFixture[str], folder: Path) -> None:
        self.db_url = db_url
        self.capsys = capsys
        self.folder = folder

    def __call__(self, *args: str) -> Result:
        """Run `leeway ARGS --db-url URL`; the URL goes last, after the subcommand's arguments."""
        self.capsys.readouterr()
        code = main([*args, "--db-url", self.db_url])
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def ok(self, *args: str) -> str:
        """Run a command that must succeed; its stdout."""
        result = self(*args)
        assert result.code == 0, result.err
        return result.out

    def csv(self, name: str, text: str) -> str:
        """Write a CSV file into the test's folder; its path, to pass as an argument."""
        path = self.folder / name
        path.write_text(text, encoding="utf-8")
        return str(path)


def count(engine: Engine, model: type[DeclarativeBase]) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0
