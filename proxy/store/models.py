"""The store's tables, as typed SQLAlchemy 2 models.

Migrations in `migrations/` create these tables; they never import this module.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    ForeignKey,
    Index,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from proxy.store.types import TZDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: TZDateTime()}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(255), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(255))
    department: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]
    # Stored lower-case: the learning record store names people by their mailbox.
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    # Set when `leeway users sync` found this person in the directory: the sync manages them.
    directory_dn: Mapped[str | None] = mapped_column(String(1000))
    # The directory entry's permanent identifier (`entryUUID:...`, `objectGUID:...`): a person
    # renamed there, DN and username both, is still this user.
    directory_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    # Set when a managed person is no longer in the directory: decided as an unknown user.
    deactivated_at: Mapped[datetime | None]


class TrainingCompletion(Base):
    """One completion of a module; the same user, module and time is one row.

    `source` says where it came from: a CSV file's name, `leeway training record (...)`, or
    `xapi:<statement id>` for a statement read from the learning record store.
    """

    __tablename__ = "training_completions"
    __table_args__ = (UniqueConstraint("user_id", "module", "completed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    module: Mapped[str] = mapped_column(String(100))
    completed_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(255), index=True)  # voiding finds `xapi:<id>`
    imported_at: Mapped[datetime]


class XapiStatement(Base):
    """A statement id already handled (applied, skipped, or voided before it arrived).

    The primary key makes each statement count once, also between two followers.
    """

    __tablename__ = "xapi_statements"

    statement_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(30))
    handled_at: Mapped[datetime]


class XapiCursor(Base):
    """How far the statements of one learning record store have been read."""

    __tablename__ = "xapi_cursors"

    lrs_url: Mapped[str] = mapped_column(String(1000), primary_key=True)
    stored: Mapped[datetime]
    ids_at_stored: Mapped[str] = mapped_column(Text)  # JSON list: the ids stored at `stored`
    updated_at: Mapped[datetime]


class RoleGrant(Base):
    __tablename__ = "role_grants"
    __table_args__ = (Index("ix_role_grants_user_id_role", "user_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(100))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(String(1000))
    granted_by: Mapped[str] = mapped_column(String(255))
    granted_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(255))


class AccessRequest(Base):
    """A person's request for a role, made from a block page or their access page.

    `state` is pending, approved or denied; approving makes the role grant `grant_id`.
    """

    __tablename__ = "access_requests"
    __table_args__ = (
        Index("ix_access_requests_user_id_state", "user_id", "state"),
        Index(
            "uq_access_requests_pending",
            "user_id",
            "category",
            "role",
            unique=True,
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(100))
    justification: Mapped[str] = mapped_column(String(500))
    state: Mapped[str] = mapped_column(String(10))
    requested_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(255))
    decision_reason: Mapped[str | None] = mapped_column(String(1000))
    grant_id: Mapped[int | None] = mapped_column(ForeignKey("role_grants.id", ondelete="SET NULL"))


class Acknowledgement(Base):
    """A Continue click on a warning page: the category is open until `expires_at`."""

    __tablename__ = "acknowledgements"
    __table_args__ = (Index("ix_acknowledgements_user_id_expires_at", "user_id", "expires_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(100))
    acknowledged_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    client_address: Mapped[str | None] = mapped_column(String(64))


class ClientAddress(Base):
    """A client network (CIDR) whose requests belong to one user."""

    __tablename__ = "client_addresses"

    id: Mapped[int] = mapped_column(primary_key=True)
    network: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]


class SigningKey(Base):
    """A secret every proxy instance shares, such as the key that signs Continue tokens."""

    __tablename__ = "signing_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    secret: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime]


class AccessEvent(Base):
    """A decision on categorised traffic, or a Continue click: no path, query or address.

    `event_id` is made when the event happens, so a replayed event is never stored twice.
    """

    __tablename__ = "access_events"
    __table_args__ = (Index("ix_access_events_username_occurred_at", "username", "occurred_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(20))
    username: Mapped[str | None] = mapped_column(String(255))
    department: Mapped[str | None] = mapped_column(String(100))
    host: Mapped[str] = mapped_column(String(255))
    category: Mapped[str] = mapped_column(String(100))
    access: Mapped[str] = mapped_column(String(10))
    action: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(String(50))
    rule: Mapped[str | None] = mapped_column(String(100))
    instance: Mapped[str] = mapped_column(String(255))
    # Identical decisions within one audit flush (about a second) are one row.
    requests: Mapped[int] = mapped_column(server_default=text("1"))


class AuditLookup(Base):
    """A deliberate look at one person's access events: who looked, at whom, how far back."""

    __tablename__ = "audit_lookups"

    id: Mapped[int] = mapped_column(primary_key=True)
    operator: Mapped[str] = mapped_column(String(255))
    subject_username: Mapped[str] = mapped_column(String(255))
    since: Mapped[datetime]
    looked_at: Mapped[datetime]
