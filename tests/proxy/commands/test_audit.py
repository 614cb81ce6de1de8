"""`leeway audit prune|pseudonymise|user`, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from proxy.audit.retention import PSEUDONYM_KEY
from proxy.audit.trail import AccessEvent
from proxy.store.events import pseudonym, write_events
from proxy.store.keys import signing_key
from proxy.store.models import AccessEvent as EventRow
from proxy.store.models import AuditLookup
from tests.audit_events import access_event

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from tests.proxy.cli_support import Leeway


def event(username: str | None, days_ago: float, host: str = "www.facebook.com") -> AccessEvent:
    return access_event(datetime.now(UTC) - timedelta(days=days_ago), username=username, host=host)


@pytest.fixture
def events(engine: Engine) -> list[AccessEvent]:
    seeded = [
        event("alice", 100),
        event("alice", 20, host="x.com"),
        event("alice", 1, host="www.linkedin.com"),
        event("bob", 1),
        event(None, 95),
    ]
    write_events(engine, seeded)
    return seeded


def usernames(engine: Engine) -> list[str | None]:
    with Session(engine) as session:
        return list(session.scalars(select(EventRow.username).order_by(EventRow.occurred_at)))


def lookups(engine: Engine) -> list[tuple[str, str, datetime, datetime]]:
    with Session(engine) as session:
        rows = session.scalars(select(AuditLookup).order_by(AuditLookup.id))
        return [(r.operator, r.subject_username, r.since, r.looked_at) for r in rows]


def test_prune_removes_old_events(
    leeway: Leeway, engine: Engine, events: list[AccessEvent]
) -> None:
    out = leeway.ok("audit", "prune", "--older-than", "90d")
    assert out.startswith("removed 2 access events from before ")
    assert out.rstrip().endswith(
        ", 0 acknowledgements that ended then and 0 access requests decided then"
    )
    assert usernames(engine) == ["alice", "alice", "bob"]
    assert leeway.ok("audit", "prune", "--older-than", "90d").startswith("removed 0 ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["prune", "--older-than", "90"], "--older-than: bad duration '90'", id="unit"),
        pytest.param(["user", "alice", "--since", "a month"], "--since: bad duration", id="since"),
    ],
)
def test_bad_durations_are_refused(leeway: Leeway, args: list[str], message: str) -> None:
    result = leeway("audit", *args)
    assert result.code == 1
    assert message in result.err


def test_prune_needs_a_period(leeway: Leeway) -> None:
    assert leeway("audit", "prune").code == 2


def test_pseudonymise_uses_the_shared_key(
    leeway: Leeway, engine: Engine, events: list[AccessEvent]
) -> None:
    out = leeway.ok("audit", "pseudonymise", "--older-than", "10d")
    assert out.startswith("pseudonymised 2 access events from before ")
    alias = pseudonym(signing_key(engine, PSEUDONYM_KEY), "alice")
    assert usernames(engine) == [alias, None, alias, "alice", "bob"]
    assert leeway.ok("audit", "pseudonymise", "--older-than", "10d").startswith("pseudonymised 0 ")
    assert usernames(engine) == [alias, None, alias, "alice", "bob"]


def test_user_prints_newest_first_and_records_the_lookup(
    leeway: Leeway, engine: Engine, events: list[AccessEvent]
) -> None:
    before = datetime.now(UTC)
    out = leeway.ok("audit", "user", "alice", "--since", "30d", "--operator", "sec-ann")
    lines = out.splitlines()
    assert lines[0].startswith("2 access events of alice since ")
    assert lines[0].endswith(", newest first (this look-up by sec-ann is recorded)")
    assert lines[1].split() == [
        "time", "kind", "host", "category", "access", "action", "reason", "rule", "instance",
        "requests",
    ]  # fmt: skip
    assert [line.split()[4] for line in lines[2:]] == ["www.linkedin.com", "x.com"]
    assert lines[2].index("social") == lines[1].index("category")  # aligned columns
    [(operator, subject, since, looked_at)] = lookups(engine)
    assert (operator, subject) == ("sec-ann", "alice")
    assert before <= looked_at <= datetime.now(UTC)
    assert abs(looked_at - timedelta(days=30) - since) < timedelta(seconds=1)


def test_user_json(
    leeway: Leeway, engine: Engine, events: list[AccessEvent], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEEWAY_OPERATOR", "sec-env")
    document = json.loads(leeway.ok("audit", "user", "alice", "--json"))
    assert document["username"] == "alice"
    assert document["operator"] == "sec-env"
    assert datetime.fromisoformat(document["since"]) < datetime.now(UTC) - timedelta(days=29)
    newest, older = events[2], events[1]
    assert [e["event_id"] for e in document["events"]] == [newest.event_id, older.event_id]
    assert document["events"][0] == {
        "event_id": newest.event_id,
        "occurred_at": newest.occurred_at.isoformat(),
        "kind": "decision",
        "username": "alice",
        "department": "Finance",
        "host": "www.linkedin.com",
        "category": "social",
        "access": "read",
        "action": "warn",
        "reason": "rule_matched",
        "rule": "everyone",
        "instance": "proxy-1",
        "requests": 1,
    }
    assert [row[:2] for row in lookups(engine)] == [("sec-env", "alice")]


def test_a_lookup_that_finds_nothing_is_still_recorded(leeway: Leeway, engine: Engine) -> None:
    out = leeway.ok("audit", "user", "nobody", "--since", "7d", "--operator", "sec-ann")
    assert out.startswith("0 access events of nobody since ")
    assert [row[:2] for row in lookups(engine)] == [("sec-ann", "nobody")]
