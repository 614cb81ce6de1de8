"""`leeway grants add` and `leeway grants revoke`, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from proxy.store.models import RoleGrant
from tests.proxy.cli_support import count

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from tests.proxy.cli_support import Leeway

ROLE = "comms-publisher"


@pytest.fixture
def staff(leeway: Leeway) -> Leeway:
    leeway.ok("users", "add", "alice")
    return leeway


def grants(engine: Engine) -> list[RoleGrant]:
    with Session(engine) as session:
        return list(session.scalars(select(RoleGrant).order_by(RoleGrant.id)))


def test_add_records_the_period_reason_and_operator(staff: Leeway, engine: Engine) -> None:
    out = staff.ok(
        "grants", "add", "alice", ROLE,
        "--starts", "2026-01-01", "--until", "2026-07-01T12:00+02:00",
        "--reason", "runs the newsroom account", "--operator", "hr-jo",
    )  # fmt: skip
    assert out == (
        "granted role comms-publisher to alice: from 2026-01-01 00:00 UTC until 2026-07-01"
        " 10:00 UTC (by hr-jo, reason: runs the newsroom account)\n"
    )
    [grant] = grants(engine)
    assert (grant.role, grant.reason, grant.granted_by) == (
        ROLE,
        "runs the newsroom account",
        "hr-jo",
    )
    assert grant.starts_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert grant.ends_at == datetime(2026, 7, 1, 10, tzinfo=UTC)
    assert grant.revoked_at is None


def test_add_starts_now_with_no_end_by_default(
    staff: Leeway, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEEWAY_OPERATOR", "from-env")
    before = datetime.now(UTC)
    staff.ok("grants", "add", "alice", ROLE)
    [grant] = grants(engine)
    assert before - timedelta(seconds=1) <= grant.starts_at <= datetime.now(UTC)
    assert grant.ends_at is None
    assert grant.granted_by == "from-env"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["alice", "admin"], "unknown role 'admin' (known: comms-publisher)", id="role"
        ),
        pytest.param(
            ["carol", ROLE],
            "unknown user 'carol': add them with `leeway users add carol`",
            id="user",
        ),
        pytest.param(
            ["alice", ROLE, "--starts", "2026-05-01", "--until", "2026-04-01"],
            "--until '2026-04-01' (2026-04-01 00:00 UTC) must be after the start"
            " (2026-05-01 00:00 UTC)",
            id="until before starts",
        ),
        pytest.param(["alice", ROLE, "--until", "soon"], "bad date 'soon' in --until", id="date"),
    ],
)
def test_add_refusals(staff: Leeway, engine: Engine, args: list[str], message: str) -> None:
    result = staff("grants", "add", *args)
    assert result.code == 1
    assert message in result.err
    assert count(engine, RoleGrant) == 0


def test_revoke_ends_active_and_future_grants_only(staff: Leeway, engine: Engine) -> None:
    now = datetime.now(UTC)
    staff.ok("grants", "add", "alice", ROLE, "--starts", "2020-01-01", "--until", "2021-01-01")
    staff.ok("grants", "add", "alice", ROLE)  # active
    future = (now + timedelta(days=30)).isoformat()
    staff.ok("grants", "add", "alice", ROLE, "--starts", future)
    out = staff.ok("grants", "revoke", "alice", ROLE, "--operator", "sec-ann")
    assert out.count("revoked role comms-publisher from alice") == 2
    past, active, later = grants(engine)
    assert past.revoked_at is None
    for grant in (active, later):
        assert grant.revoked_by == "sec-ann"
        assert grant.revoked_at is not None
        assert now <= grant.revoked_at <= datetime.now(UTC)


def test_revoke_with_nothing_to_revoke_is_refused(staff: Leeway) -> None:
    staff.ok("grants", "add", "alice", ROLE)
    staff.ok("grants", "revoke", "alice", ROLE)
    result = staff("grants", "revoke", "alice", ROLE)
    assert result.code == 1
    assert result.err == "user 'alice' has no active or future grant of role 'comms-publisher'\n"


def test_revoke_of_an_unknown_user_is_refused(staff: Leeway) -> None:
    result = staff("grants", "revoke", "carol", ROLE)
    assert result.code == 1
    assert "unknown user 'carol'" in result.err
