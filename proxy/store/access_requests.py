"""Staff's requests for a role: asked from a page, approved (a role grant) or denied by an operator.

One pending request per person, category and role, also between two proxies (the partial
unique index decides; asking again returns the pending one). The caller commits; approve and
deny notify running proxies at commit, as `grants add` does. Check first that the role may be
asked for on the category: `policy.requestable`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from proxy.store.models import AccessRequest, RoleGrant, User
from proxy.store.notify import notify_changed

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy import Select
    from sqlalchemy.orm import Session

MAX_JUSTIFICATION = 500  # characters, as the column holds
MAX_REASON = 900  # the grant's reason adds "access request #ID: " within its 1000


class State(StrEnum):
    """Where a request stands; only a pending one can be decided."""

    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"


class RequestError(ValueError):
    """A request that cannot be asked, approved or denied; the message says why."""


class InvalidText(RequestError):
    """A justification or reason that is empty or too long."""


class UnknownPerson(RequestError):
    """The person asking is not in the store, or no longer active there."""


class UnknownRequest(RequestError):
    """No request has this id."""


class NotPending(RequestError):
    """The request was already approved or denied."""


@dataclass(frozen=True, slots=True)
class RequestView:
    """A request as pages and commands show it, read before the session closes."""

    id: int
    username: str
    category: str
    role: str
    justification: str
    state: State
    requested_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None
    decision_reason: str | None = None
    grant_id: int | None = None


@dataclass(frozen=True, slots=True)
class Asked:
    """What `ask` did: `created` a new pending request, or found the one already pending."""

    created: bool
    request: RequestView


def clean_text(value: str, what: str, limit: int) -> str:
    """`value` stripped; `InvalidText` if that leaves nothing, more than `limit` characters, or
    a NUL."""
    text = value.strip()
    if not text:
        raise InvalidText(f"the {what} is required")
    if len(text) > limit:
        raise InvalidText(f"the {what} is {len(text)} characters long: at most {limit} are allowed")
    if "\x00" in text:  # PostgreSQL's text cannot hold it
        raise InvalidText(f"the {what} contains a NUL character")
    return text


def ask(
    session: Session, *, username: str, category: str, role: str, justification: str, now: datetime
) -> Asked:
    """A pending request of `username` for `role` on `category`: a new one, or the one pending."""
    said = clean_text(justification, "justification", MAX_JUSTIFICATION)
    person = session.scalar(
        select(User.id).where(User.username == username, User.deactivated_at.is_(None))
    )
    if person is None:
        raise UnknownPerson(f"user {username!r} is not known to Leeway (or no longer active)")
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    # ON CONFLICT on the partial unique index: a concurrent ask waits for the other's commit
    # and then inserts nothing, where a plain INSERT would fail the caller's transaction. The
    # index's WHERE is a literal: as a parameter, a prepared statement would match no index.
    statement = (
        insert(AccessRequest)
        .values(user_id=person, category=category, role=role, justification=said)
        .values(state=State.PENDING.value, requested_at=now)
        .on_conflict_do_nothing(
            index_elements=[AccessRequest.user_id, AccessRequest.category, AccessRequest.role],
            index_where=text("state = 'pending'"),
        )
        .returning(AccessRequest.id)
    )
    created = session.scalar(statement)
    pending = session.execute(
        _views().where(
            AccessRequest.user_id == person,
            AccessRequest.category == category,
            AccessRequest.role == role,
            AccessRequest.state == State.PENDING.value,
        )
    ).one()  # the row just inserted, or the one that was in the way
    return Asked(created=created is not None, request=_view(*pending))


def requests_of(session: Session, username: str) -> list[RequestView]:
    """Every request of `username`, newest first, for their access page."""
    query = _views().where(User.username == username)
    newest = query.order_by(AccessRequest.requested_at.desc(), AccessRequest.id.desc())
    return [_view(*row) for row in session.execute(newest)]


def list_requests(session: Session, state: State | None = None) -> list[RequestView]:
    """Every request (or those in `state`), oldest first: the order an operator works in."""
    query = _views() if state is None else _views().where(AccessRequest.state == state.value)
    return [_view(*row) for row in session.execute(query.order_by(AccessRequest.id))]


def get_request(session: Session, request_id: int) -> RequestView:
    """The request `request_id`, or `UnknownRequest`."""
    row = session.execute(_views().where(AccessRequest.id == request_id)).first()
    if row is None:
        raise UnknownRequest(f"no access request #{request_id}")
    return _view(*row)


def pending_request(session: Session, request_id: int) -> RequestView:
    """The request `request_id` if it is pending; `UnknownRequest` or `NotPending` if not."""
    found = get_request(session, request_id)
    if found.state is not State.PENDING:
        by, at = found.decided_by or "?", f"{found.decided_at:%Y-%m-%d %H:%M} UTC"
        raise NotPending(f"access request #{request_id} is already {found.state} by {by} at {at}")
    return found


def count_by_state(session: Session) -> dict[State, int]:
    """How many requests are in each state (every state, 0 when none)."""
    query = select(AccessRequest.state, func.count()).group_by(AccessRequest.state)
    counts = dict.fromkeys(State, 0)
    counts.update({State(state): int(n) for state, n in session.execute(query)})
    return counts


def approve(
    session: Session,
    request_id: int,
    *,
    operator: str,
    until: datetime | None = None,
    reason: str | None = None,
    now: datetime,
) -> RequestView:
    """Grant the requested role from `now` until `until` (None: until revoked), by `operator`.

    The grant's reason names the request (`access request #12: <reason>`). `NotPending` if
    the request was decided already, also by another operator at the same moment.
    """
    request = pending_request(session, request_id)
    said = None if reason is None else clean_text(reason, "reason", MAX_REASON)
    if until is not None and until <= now:
        raise RequestError(f"the grant must end after now ({now.isoformat()}), not {until}")
    decided = {"decided_at": now, "decided_by": operator, "decision_reason": said}
    person = _decide(session, request_id, {"state": State.APPROVED.value, **decided})
    because = f"access request #{request_id}" + (f": {said}" if said else "")
    grant = RoleGrant(user_id=person, role=request.role, starts_at=now, ends_at=until)
    grant.reason, grant.granted_by, grant.granted_at = because, operator, now
    session.add(grant)
    session.flush()
    session.execute(
        update(AccessRequest).where(AccessRequest.id == request_id).values(grant_id=grant.id)
    )
    notify_changed(session, [request.username])
    return get_request(session, request_id)


def deny(
    session: Session, request_id: int, *, operator: str, reason: str, now: datetime
) -> RequestView:
    """Refuse the request with `reason` (required: the person sees it on their access page)."""
    request = pending_request(session, request_id)
    said = clean_text(reason, "reason", MAX_REASON)
    decided = {"decided_at": now, "decided_by": operator, "decision_reason": said}
    _decide(session, request_id, {"state": State.DENIED.value, **decided})
    notify_changed(session, [request.username])  # their access page shows the decision
    return get_request(session, request_id)


def _decide(session: Session, request_id: int, values: dict[str, object]) -> int:
    """Set the decision `values` on the request if it is still pending; its user's id.

    Conditional on pending: of two operators deciding at once, one wins, on both backends,
    and the other is told, rather than making a second grant.
    """
    done = session.execute(
        update(AccessRequest)
        .where(AccessRequest.id == request_id, AccessRequest.state == State.PENDING.value)
        .values(values)
        .returning(AccessRequest.user_id)
    ).scalar()
    if done is None:  # decided meanwhile, by another operator: say by whom
        pending_request(session, request_id)
        raise NotPending(f"access request #{request_id} is no longer pending")
    return done


def _views() -> Select[AccessRequest, str]:
    # populate_existing: the UPDATE statements above may have changed rows already loaded.
    return (
        select(AccessRequest, User.username)
        .join(User, User.id == AccessRequest.user_id)
        .execution_options(populate_existing=True)
    )


def _view(row: AccessRequest, username: str) -> RequestView:
    copied = {name: getattr(row, name) for name in _COPIED.split()}
    return RequestView(username=username, state=State(row.state), **copied)


_COPIED = "id category role justification requested_at decided_at decided_by decision_reason"
_COPIED += " grant_id"
