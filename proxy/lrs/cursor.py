"""Where a page of statements leaves the sync: the cursor after it, the times it applied.

The cursor is the latest `stored` of the page and the ids stored at that instant, so that
the next read (from just before it) skips those ids and nothing stored later is missed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from proxy.lrs.statements import Malformed, Outcome, Skipped, parse_time
from proxy.store.xapi import Cursor


def stored_at(statement: Any) -> datetime | None:
    value = statement.get("stored") if isinstance(statement, dict) else None
    if not isinstance(value, str):
        return None
    try:
        return parse_time(value, "stored")
    except Malformed:
        return None


def cursor_after(statements: list[Any]) -> Cursor | None:
    """The latest `stored` of the page and the ids stored at that instant."""
    stamped = [(s, stored_at(s)) for s in statements]
    times = [t for _, t in stamped if t is not None]
    if not times:
        return None
    latest = max(times)
    ids = {str(s.get("id")) for s, t in stamped if t == latest and isinstance(s.get("id"), str)}
    return Cursor(latest, frozenset(ids))


def stored_of(statements: list[Any], fresh: list[Outcome]) -> list[datetime]:
    applied = {o.statement_id for o in fresh if not isinstance(o, Skipped)}
    return [
        t
        for s in statements
        if isinstance(s, dict) and s.get("id") in applied and (t := stored_at(s)) is not None
    ]
