"""Defaults of settings that are worked out at start: who runs the command, and where the
audit journal goes when none is named."""

from __future__ import annotations

import getpass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


def login_name() -> str:
    """Who runs the command, for `granted_by` and `revoked_by` (`unknown` if the OS can't say)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        # No LOGNAME/USER and no passwd entry: a container started with a bare uid.
        return "unknown"


def default_audit_journal(db_url: str, confdir: Path) -> Path:
    """Where audit events wait when no journal is named: `leeway.db` -> `leeway-audit.journal`
    beside a SQLite file; for PostgreSQL (or SQLite in memory) in this proxy's confdir, which
    every instance has of its own, private and kept across restarts."""
    try:
        url = make_url(db_url)
    except ArgumentError:  # reported when the store is opened; any place will do meanwhile
        url = None
    database = url.database if url is not None and url.get_backend_name() == "sqlite" else None
    if database and database != ":memory:" and not database.startswith("file:"):
        store = Path(database)
        return store.with_name(f"{store.stem}-audit.journal")
    return confdir / "leeway-audit.journal"
