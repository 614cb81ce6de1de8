"""The store's tables, as typed SQLAlchemy 2 models.

Migrations in `migrations/` create these tables; they never import this module.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import ForeignKey, Index, LargeBinary, MetaData, String, UniqueConstraint
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


class TrainingCompletion(Base):
    """One completion of a module; the same user, module and time is one row."""

    __tablename__ = "training_completions"
    __table_args__ = (UniqueConstraint("user_id", "module", "completed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    module: Mapped[str] = mapped_column(String(100))
    completed_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(255))
    imported_at: Mapped[datetime]


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
