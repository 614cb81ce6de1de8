"""Access requests in the store: one pending per person, category and role; decided once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from proxy.store.access_requests import (
    MAX_JUSTIFICATION,
    Asked,
    InvalidText,
    NotPending,
    RequestError,
    RequestView,
    State,
    UnknownPerson,
    UnknownRequest,
    approve,
    ask,
    count_by_state,
    deny,
    get_request,
    list_requests,
    requests_of,
)
from proxy.store.db import session_factory
from proxy.store.models import AccessRequest, RoleGrant, User
from proxy.store.people import save_user
from tests.proxy.store.listening import ON_POSTGRES, Listening
from tests.waiting import eventually

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from sqlalchemy.engine import Engine

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def people(engine: Engine) -> Engine:
    with session_factory(engine).begin() as session:
        for name in ("alice", "bob", "gone"):
            save_user(session, name, NOW, {})
        session.flush()
        session.execute(update(User).where(User.username == "gone").values(deactivated_at=NOW))
    return engine


@pytest.fixture
def session(people: Engine) -> Iterator[Session]:
    with Session(people) as session, session.begin():
        yield session


def asking(
    session: Session,
    username: str = "alice",
    *,
    category: str = "social",
    role: str = "comms-publisher",
    justification: str = "I post for the press office",
    now: datetime = NOW,
) -> Asked:
    return ask(
        session,
        username=username,
        category=category,
        role=role,
        justification=justification,
        now=now,
    )


def rows(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AccessRequest)) or 0


def test_ask_stores_a_pending_request(session: Session) -> None:
    asked = asking(session, justification="  I post for the press office \n")
    assert asked.created
    assert asked.request == RequestView(
        id=asked.request.id,
        username="alice",
        category="social",
        role="comms-publisher",
        justification="I post for the press office",
        state=State.PENDING,
        requested_at=NOW,
    )


def test_asking_again_while_pending_returns_the_pending_request(session: Session) -> None:
    first = asking(session)
    again = asking(session, justification="please", now=NOW + HOUR)
    assert not again.created
    assert again.request == first.request
    assert rows(session) == 1


def test_other_roles_categories_and_people_are_other_requests(session: Session) -> None:
    ids = {
        asking(session).request.id,
        asking(session, role="manager").request.id,
        asking(session, category="rich-media").request.id,
        asking(session, "bob").request.id,
    }
    assert len(ids) == 4


def test_a_decided_request_can_be_asked_again(session: Session) -> None:
    first = asking(session)
    deny(session, first.request.id, operator="sec", reason="not now", now=NOW)
    again = asking(session, now=NOW + HOUR)
    assert again.created
    assert again.request.id != first.request.id


@pytest.mark.parametrize(
    ("justification", "message"),
    [
        pytest.param("", "the justification is required", id="empty"),
        pytest.param(" \n\t ", "the justification is required", id="blank"),
        pytest.param(
            "x" * (MAX_JUSTIFICATION + 1),
            "the justification is 501 characters long: at most 500 are allowed",
            id="too long",
        ),
        pytest.param("a\x00b", "the justification contains a NUL character", id="NUL"),
    ],
)
def test_a_bad_justification_is_refused(session: Session, justification: str, message: str) -> None:
    with pytest.raises(InvalidText) as raised:
        asking(session, justification=justification)
    assert str(raised.value) == message
    assert rows(session) == 0


def test_the_longest_justification_is_kept_whole(session: Session) -> None:
    longest = "é" * MAX_JUSTIFICATION  # characters, not bytes
    assert asking(session, justification=f" {longest} ").request.justification == longest


@pytest.mark.parametrize("username", ["nobody", "gone"], ids=["unknown", "deactivated"])
def test_only_active_people_can_ask(session: Session, username: str) -> None:
    with pytest.raises(UnknownPerson, match=f"user '{username}' is not known"):
        asking(session, username)


def test_requests_of_a_person_are_theirs_newest_first(session: Session) -> None:
    old = asking(session).request
    new = asking(session, role="manager", now=NOW + HOUR).request
    asking(session, "bob")
    deny(session, old.id, operator="sec", reason="use the shared account", now=NOW + 2 * HOUR)
    mine = requests_of(session, "alice")
    assert [r.id for r in mine] == [new.id, old.id]
    assert (mine[1].state, mine[1].decision_reason) == (State.DENIED, "use the shared account")
    assert requests_of(session, "nobody") == []


def test_list_requests_by_state_oldest_first(session: Session) -> None:
    a = asking(session).request.id
    b = asking(session, "bob").request.id
    c = asking(session, role="manager").request.id
    approve(session, b, operator="sec", now=NOW)
    assert [r.id for r in list_requests(session)] == [a, b, c]
    assert [r.id for r in list_requests(session, State.PENDING)] == [a, c]
    assert [r.id for r in list_requests(session, State.APPROVED)] == [b]
    assert list_requests(session, State.DENIED) == []
    assert count_by_state(session) == {State.PENDING: 2, State.APPROVED: 1, State.DENIED: 0}


def test_approve_makes_a_role_grant_naming_the_request(session: Session) -> None:
    asked = asking(session).request
    done = approve(
        session, asked.id, operator="hr-ann", until=NOW + 30 * 24 * HOUR, reason=" ok ", now=NOW
    )
    grant = session.scalars(select(RoleGrant)).one()
    assert (grant.role, grant.granted_by, grant.reason) == (
        "comms-publisher",
        "hr-ann",
        f"access request #{asked.id}: ok",
    )
    assert (grant.starts_at, grant.ends_at, grant.granted_at) == (NOW, NOW + 720 * HOUR, NOW)
    owner = session.scalar(select(User.username).where(User.id == grant.user_id))
    assert owner == "alice"
    assert done.state is State.APPROVED
    assert (done.decided_at, done.decided_by, done.decision_reason) == (NOW, "hr-ann", "ok")
    assert done.grant_id == grant.id
    assert get_request(session, asked.id) == done


def test_approve_without_reason_or_end(session: Session) -> None:
    asked = asking(session).request
    approve(session, asked.id, operator="hr", now=NOW)
    grant = session.scalars(select(RoleGrant)).one()
    assert (grant.reason, grant.ends_at) == (f"access request #{asked.id}", None)


def test_approve_until_the_past_is_refused(session: Session) -> None:
    asked = asking(session).request
    with pytest.raises(RequestError, match="the grant must end after now"):
        approve(session, asked.id, operator="hr", until=NOW - HOUR, now=NOW)
    assert get_request(session, asked.id).state is State.PENDING
    assert session.scalars(select(RoleGrant)).all() == []


def test_deny_records_the_reason_and_needs_one(session: Session) -> None:
    asked = asking(session).request
    with pytest.raises(InvalidText, match="the reason is required"):
        deny(session, asked.id, operator="sec", reason="  ", now=NOW)
    done = deny(session, asked.id, operator="sec", reason="use the shared account", now=NOW)
    assert (done.state, done.decided_by, done.decision_reason) == (
        State.DENIED,
        "sec",
        "use the shared account",
    )
    assert session.scalars(select(RoleGrant)).all() == []


@pytest.mark.parametrize("first", ["approve", "deny"])
@pytest.mark.parametrize("then", ["approve", "deny"])
def test_a_decided_request_is_not_decided_again(session: Session, first: str, then: str) -> None:
    asked = asking(session).request
    decide: dict[str, Callable[[str], RequestView]] = {
        "approve": lambda by: approve(session, asked.id, operator=by, now=NOW),
        "deny": lambda by: deny(session, asked.id, operator=by, reason="no", now=NOW),
    }
    decide[first]("ann")
    with pytest.raises(NotPending) as raised:
        decide[then]("bob")
    state = "approved" if first == "approve" else "denied"
    expected = f"access request #{asked.id} is already {state} by ann at 2026-06-01 12:00 UTC"
    assert str(raised.value) == expected
    assert len(session.scalars(select(RoleGrant)).all()) == int(first == "approve")


def test_an_unknown_request_is_refused(session: Session) -> None:
    attempts: list[Callable[[], RequestView]] = [
        lambda: approve(session, 404, operator="a", now=NOW),
        lambda: deny(session, 404, operator="a", reason="x", now=NOW),
        lambda: get_request(session, 404),
    ]
    for attempt in attempts:
        with pytest.raises(UnknownRequest, match="no access request #404"):
            attempt()


@ON_POSTGRES
@pytest.mark.parametrize("decision", ["approve", "deny"])
def test_a_decision_notifies_the_persons_proxies(
    people: Engine, db_url: str, decision: str
) -> None:
    with session_factory(people).begin() as session:
        asked = asking(session).request.id
    with Listening(db_url) as listening, session_factory(people).begin() as session:
        if decision == "approve":
            approve(session, asked, operator="hr", now=NOW)
        else:
            deny(session, asked, operator="hr", reason="no", now=NOW)
        assert listening.received(0.2) == [], "nothing before the commit"
        session.commit()
        assert listening.received() == ["user:alice"]


def blocked_on_a_lock(engine: Engine) -> bool:
    with engine.connect() as connection:
        waiting = connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar()
    return bool(waiting)


def in_another_thread(work: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    """Run `work` in a thread of its own; its result (or `RequestError`) lands in the list."""
    results: list[object] = []

    def run() -> None:
        try:
            results.append(work())
        except RequestError as e:
            results.append(e)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, results


@ON_POSTGRES
def test_two_proxies_asking_at_once_make_one_request(people: Engine) -> None:
    def second() -> Asked:
        with session_factory(people).begin() as session:
            return asking(session, justification="second")

    with session_factory(people).begin() as session:
        first = asking(session, justification="first")
        thread, results = in_another_thread(second)
        eventually(lambda: blocked_on_a_lock(people), "the second ask waits for the first")
    thread.join(10)
    [other] = results
    assert isinstance(other, Asked)
    assert not other.created
    assert other.request == first.request
    with Session(people) as session:
        assert rows(session) == 1


@ON_POSTGRES
def test_two_operators_approving_at_once_make_one_grant(people: Engine) -> None:
    with session_factory(people).begin() as session:
        asked = asking(session).request.id

    def second() -> RequestView:
        with session_factory(people).begin() as session:
            return approve(session, asked, operator="bob", now=NOW)

    with session_factory(people).begin() as session:
        approve(session, asked, operator="ann", now=NOW)
        thread, results = in_another_thread(second)
        eventually(lambda: blocked_on_a_lock(people), "the second approval waits for the first")
    thread.join(10)
    [other] = results
    assert isinstance(other, NotPending)
    assert "already approved by ann" in str(other)
    with Session(people) as session:
        assert len(session.scalars(select(RoleGrant)).all()) == 1


def test_many_asks_on_one_connection(session: Session) -> None:
    # psycopg prepares a statement from its sixth run on: the ON CONFLICT must still find
    # the partial index then (its WHERE must not become a parameter).
    for n in range(12):
        assert asking(session, role=f"role-{n % 6}").created is (n < 6)
    assert rows(session) == 6
