"""A connection listening for Leeway's change notifications, as another instance would."""

from __future__ import annotations

from typing import TYPE_CHECKING

import psycopg
import pytest
from psycopg import sql

from proxy.runtime.changes import conninfo
from proxy.store.notify import CHANNEL

if TYPE_CHECKING:
    from types import TracebackType

ON_POSTGRES = pytest.mark.parametrize(
    "db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
ON_SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


class Listening:
    """LISTEN on the channel from a connection of its own; `received` reads what came."""

    def __init__(self, db_url: str) -> None:
        text, defaults = conninfo(db_url)
        self.connection = psycopg.connect(text, autocommit=True, **defaults)
        self.connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))

    def received(self, within: float = 0.3) -> list[str]:
        """The payloads that arrive within `within` seconds (after any already waiting)."""
        return [n.payload for n in self.connection.notifies(timeout=within)]

    def __enter__(self) -> Listening:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.connection.close()
