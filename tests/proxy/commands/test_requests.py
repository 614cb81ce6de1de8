"""`leeway requests list|approve|deny`, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from proxy.commands.requests import COLUMNS, JSON_KEYS
from proxy.store.access_requests import State, ask, get_request
from proxy.store.db import session_factory
from proxy.store.models import RoleGrant

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.engine import Engine

    from tests.proxy.cli_support import Leeway

ROLE = "comms-publisher"
JUST = "I post for the press office"
ASKED_AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
FORGED = "ok\n3   approved  2026-06-01 12:00 UTC  mallory\x1b[2K\x1b[1A\u202e"
ONLY_FRIENDS = """
[categories.social]
domains = ["facebook.com"]

[[rules]]
name = "friends"
categories = ["social"]
roles_any = ["friend"]
read = "allow"
"""


@pytest.fixture
def staff(leeway: Leeway) -> Leeway:
    for name in ("alice", "bob"):
        leeway.ok("users", "add", name)
    return leeway


def asked(engine: Engine, username: str, justification: str, role: str = ROLE) -> int:
    with session_factory(engine).begin() as session:
        made = ask(
            session,
            username=username,
            category="social",
            role=role,
            justification=justification,
            now=ASKED_AT,
        )
    return made.request.id


def grants(engine: Engine) -> list[RoleGrant]:
    with Session(engine) as session:
        return list(session.scalars(select(RoleGrant).order_by(RoleGrant.id)))


def test_list_shows_every_request_oldest_first(staff: Leeway, engine: Engine) -> None:
    first = asked(engine, "alice", JUST)
    second = asked(engine, "bob", "events team")
    staff.ok(
        "requests", "deny", str(second), "--reason", "use the events account", "--operator", "sec"
    )
    lines = staff.ok("requests", "list").splitlines()
    assert lines[0] == "2 access requests, oldest first"
    cells = [re.split(r"\s{2,}", line) for line in lines[1:]]
    assert cells[0] == list(COLUMNS)
    asked_at = "2026-06-01 12:00 UTC"
    assert cells[1] == [str(first), "pending", asked_at, "alice", "social", ROLE, "-", JUST]
    assert cells[2][:6] == [str(second), "denied", asked_at, "bob", "social", ROLE]
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d UTC by sec: use the events account", cells[2][6]
    )
    assert cells[2][7] == "events team"


def test_list_by_state_and_as_json(staff: Leeway, engine: Engine) -> None:
    asked(engine, "alice", "press office")
    second = asked(engine, "bob", "events")
    staff.ok("requests", "approve", str(second), "--operator", "hr")
    pending = staff.ok("requests", "list", "--state", "pending").splitlines()
    assert pending[0] == "1 pending access requests, oldest first"
    assert len(pending) == 3
    document = json.loads(staff.ok("requests", "list", "--state", "approved", "--json"))
    assert document["state"] == "approved"
    [one] = document["requests"]
    assert {k: one[k] for k in ("id", "username", "category", "role", "state", "decided_by")} == {
        "id": second,
        "username": "bob",
        "category": "social",
        "role": ROLE,
        "state": "approved",
        "decided_by": "hr",
    }
    assert one["requested_at"] == "2026-06-01T12:00:00+00:00"
    assert one["grant_id"] == grants(engine)[0].id
    assert (
        staff.ok("requests", "list", "--state", "denied")
        == "0 denied access requests, oldest first\n"
    )


def test_a_justification_cannot_forge_rows_or_move_the_screen(
    staff: Leeway, engine: Engine
) -> None:
    asked(engine, "alice", FORGED)
    out = staff.ok("requests", "list")
    assert len(out.splitlines()) == 3, "one heading, one header, one request"
    assert "\x1b" not in out and "\u202e" not in out
    assert out.splitlines()[2].endswith(
        "ok\\n3   approved  2026-06-01 12:00 UTC  mallory\\x1b[2K\\x1b[1A\\u202e"
    )
    raw = staff.ok("requests", "list", "--json")
    assert raw.isascii()
    assert json.loads(raw)["requests"][0]["justification"] == FORGED


def test_approve_grants_the_role_naming_the_request(staff: Leeway, engine: Engine) -> None:
    request = asked(engine, "alice", "press office")
    out = staff.ok(
        "requests", "approve", str(request), "--until", "2099-01-01",
        "--reason", "agreed with comms", "--operator", "hr-jo",
    )  # fmt: skip
    assert out == (
        f"approved access request #{request}: role {ROLE} granted to alice until"
        f" 2099-01-01 00:00 UTC (by hr-jo, grant #{grants(engine)[0].id})\n"
    )
    [grant] = grants(engine)
    assert (grant.role, grant.granted_by, grant.reason) == (
        ROLE,
        "hr-jo",
        f"access request #{request}: agreed with comms",
    )
    assert grant.ends_at == datetime(2099, 1, 1, tzinfo=UTC)
    with Session(engine) as session:
        assert get_request(session, request).state is State.APPROVED


def test_the_operator_defaults_as_for_grants(
    staff: Leeway, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEEWAY_OPERATOR", "from-env")
    request = asked(engine, "alice", "press office")
    staff.ok("requests", "approve", str(request))
    [grant] = grants(engine)
    assert (grant.granted_by, grant.ends_at) == ("from-env", None)


def test_deny_records_the_reason(staff: Leeway, engine: Engine) -> None:
    request = asked(engine, "alice", "press office")
    out = staff.ok("requests", "deny", str(request), "--reason", "not your team", "--operator", "s")
    assert out == (
        f"denied access request #{request} of alice for role {ROLE} on social: not your team\n"
    )
    with Session(engine) as session:
        denied = get_request(session, request)
    assert (denied.state, denied.decided_by, denied.decision_reason) == (
        State.DENIED,
        "s",
        "not your team",
    )
    assert grants(engine) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["approve", "404"], "no access request #404", id="unknown id"),
        pytest.param(["deny", "404", "--reason", "x"], "no access request #404", id="deny unknown"),
        pytest.param(
            ["approve", "{id}", "--until", "2001-01-01"],
            "--until '2001-01-01' (2001-01-01 00:00 UTC) is not in the future",
            id="until in the past",
        ),
        pytest.param(["approve", "{id}", "--until", "soon"], "--until", id="until not a time"),
        pytest.param(["deny", "{id}", "--reason", "   "], "the reason is required", id="blank"),
    ],
)
def test_refusals_exit_1_and_change_nothing(
    staff: Leeway, engine: Engine, args: list[str], message: str
) -> None:
    request = asked(engine, "alice", "press office")
    result = staff("requests", *(a.format(id=request) for a in args))
    assert (result.code, result.out) == (1, "")
    assert message in result.err
    with Session(engine) as session:
        assert get_request(session, request).state is State.PENDING
    assert grants(engine) == []


@pytest.mark.parametrize("first", ["approve", "deny"])
def test_a_decided_request_is_refused(staff: Leeway, engine: Engine, first: str) -> None:
    request = asked(engine, "alice", "press office")
    staff.ok("requests", first, str(request), "--reason", "r", "--operator", "ann")
    state = "approved" if first == "approve" else "denied"
    for then in (["approve"], ["deny", "--reason", "again"]):
        result = staff("requests", then[0], str(request), *then[1:], "--operator", "bob")
        assert result.code == 1
        assert f"access request #{request} is already {state} by ann at " in result.err
    assert len(grants(engine)) == int(first == "approve")


def test_a_role_the_policy_no_longer_accepts_is_not_approved(
    staff: Leeway, engine: Engine, tmp_path: Path
) -> None:
    request = asked(engine, "alice", "press office")
    policy = tmp_path / "policy.toml"
    policy.write_text(ONLY_FRIENDS, encoding="utf-8")
    result = staff("requests", "approve", str(request), "--policy", str(policy))
    assert result.code == 1
    assert result.err == (
        f"access request #{request} cannot be approved: role {ROLE!r} cannot be asked for on"
        " category 'social' (roles its rules accept: friend); the policy changed since it was"
        " made: deny it instead\n"
    )
    assert grants(engine) == []


def test_deny_needs_a_reason_on_the_command_line(staff: Leeway, engine: Engine) -> None:
    request = asked(engine, "alice", "press office")
    result = staff("requests", "deny", str(request))
    assert result.code == 2
    assert "--reason" in result.err


def test_deny_prints_every_stored_field_escaped(staff: Leeway, engine: Engine) -> None:
    # The store keeps what a page sent; only approving checks the role against the policy.
    request = asked(engine, "alice", "j", role="r\x1b[2Kole")
    out = staff.ok("requests", "deny", str(request), "--reason", "no\nway", "--operator", "s")
    assert (
        out
        == f"denied access request #{request} of alice for role r\\x1b[2Kole on social: no\\nway\n"
    )


def test_the_json_keys_are_documented(staff: Leeway, engine: Engine) -> None:
    asked(engine, "alice", "press office")
    document = json.loads(staff.ok("requests", "list", "--json"))
    keys = ", ".join(document["requests"][0])
    assert f"requests: [{{{keys}}}]" in " ".join(JSON_KEYS.split())
