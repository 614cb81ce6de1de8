"""How long the store keeps what people did, besides their access events (`events.prune`):
acknowledgements (Continue clicks) that ended and access requests that were decided.

Both are personal data kept for a purpose: an acknowledgement while it opens a category,
a request until it is decided and then as long as the audit trail (`--audit-retention`).
A pending request waits however long; a grant made by approving one stays, its reason
naming the request's number. Idempotent: instances racing do no harm.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete

from proxy.store.access_requests import State
from proxy.store.events import rowcount
from proxy.store.models import AccessRequest, Acknowledgement

if TYPE_CHECKING:
    from datetime import datetime, timedelta

    from sqlalchemy import Delete
    from sqlalchemy.orm import Session


@dataclass(frozen=True, slots=True)
class RecordsPruned:
    acknowledgements: int = 0
    requests: int = 0


def prune_records(session: Session, *, older_than: timedelta, now: datetime) -> RecordsPruned:
    """Delete acknowledgements that ended, and requests decided, before `now - older_than`."""
    cutoff = now - older_than
    ended = delete(Acknowledgement).where(Acknowledgement.expires_at < cutoff)
    decided = delete(AccessRequest).where(
        AccessRequest.state != State.PENDING.value, AccessRequest.decided_at < cutoff
    )
    return RecordsPruned(_deleted(session, ended), _deleted(session, decided))


def _deleted(session: Session, statement: Delete) -> int:
    return rowcount(session.execute(statement.execution_options(synchronize_session=False)))
