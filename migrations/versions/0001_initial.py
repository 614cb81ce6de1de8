"""The initial store: users, training completions, role grants, acknowledgements, addresses.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import op

if TYPE_CHECKING:
    from collections.abc import Sequence

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out rather than imported: a migration must not change when the models do.
UTC_TIMESTAMP = sa.DateTime(timezone=True)


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer(), nullable=False)


def _user_id(table: str) -> sa.Column[int]:
    return sa.Column(
        "user_id",
        sa.Integer(),
        sa.ForeignKey("users.id", name=f"fk_{table}_user_id_users", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "users",
        _id(),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("display_name", sa.String(255), nullable=True),
        sa.Column("department", sa.String(100), nullable=True),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username", name="uq_users_username"),
    )
    op.create_table(
        "training_completions",
        _id(),
        _user_id("training_completions"),
        sa.Column("module", sa.String(100), nullable=False),
        sa.Column("completed_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("imported_at", UTC_TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_training_completions"),
        # Also the index behind "this user's completions": user_id leads.
        sa.UniqueConstraint(
            "user_id", "module", "completed_at", name="uq_training_completions_user_id"
        ),
    )
    op.create_table(
        "role_grants",
        _id(),
        _user_id("role_grants"),
        sa.Column("role", sa.String(100), nullable=False),
        sa.Column("starts_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("ends_at", UTC_TIMESTAMP, nullable=True),
        sa.Column("reason", sa.String(1000), nullable=True),
        sa.Column("granted_by", sa.String(255), nullable=False),
        sa.Column("granted_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("revoked_at", UTC_TIMESTAMP, nullable=True),
        sa.Column("revoked_by", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_role_grants"),
    )
    op.create_index("ix_role_grants_user_id_role", "role_grants", ["user_id", "role"])
    op.create_table(
        "acknowledgements",
        _id(),
        _user_id("acknowledgements"),
        sa.Column("category", sa.String(100), nullable=False),
        sa.Column("acknowledged_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("expires_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("client_address", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_acknowledgements"),
    )
    op.create_index(
        "ix_acknowledgements_user_id_expires_at", "acknowledgements", ["user_id", "expires_at"]
    )
    op.create_table(
        "client_addresses",
        _id(),
        sa.Column("network", sa.String(64), nullable=False),
        _user_id("client_addresses"),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_client_addresses"),
        sa.UniqueConstraint("network", name="uq_client_addresses_network"),
    )


def downgrade() -> None:
    op.drop_table("client_addresses")
    op.drop_index("ix_acknowledgements_user_id_expires_at", table_name="acknowledgements")
    op.drop_table("acknowledgements")
    op.drop_index("ix_role_grants_user_id_role", table_name="role_grants")
    op.drop_table("role_grants")
    op.drop_table("training_completions")
    op.drop_table("users")
