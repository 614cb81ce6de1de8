"""People from the directory, and staff's requests for access.

Users gain `directory_dn` (set when `leeway users sync` found them in the directory: the
sync manages those people and no others) and `deactivated_at` (set when a managed person is
no longer found; an inactive person is decided as a user the store does not know, and their
records stay as history). `access_requests` holds what staff ask for from a block page or
their access page: one pending request per person, category and role.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import op

if TYPE_CHECKING:
    from collections.abc import Sequence

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as table:
        table.add_column(sa.Column("directory_dn", sa.String(1000), nullable=True))
        table.add_column(sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "access_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(100), nullable=False),
        sa.Column("role", sa.String(100), nullable=False),
        sa.Column("justification", sa.String(500), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(255), nullable=True),
        sa.Column("decision_reason", sa.String(1000), nullable=True),
        sa.Column("grant_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_access_requests_user_id_users",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["grant_id"],
            ["role_grants.id"],
            name="fk_access_requests_grant_id_role_grants",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_access_requests"),
    )
    op.create_index(
        "ix_access_requests_user_id_state", "access_requests", ["user_id", "state"], unique=False
    )
    # At most one pending request per person, category and role, also between two proxies.
    op.create_index(
        "uq_access_requests_pending",
        "access_requests",
        ["user_id", "category", "role"],
        unique=True,
        sqlite_where=sa.text("state = 'pending'"),
        postgresql_where=sa.text("state = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("uq_access_requests_pending", table_name="access_requests")
    op.drop_index("ix_access_requests_user_id_state", table_name="access_requests")
    op.drop_table("access_requests")
    with op.batch_alter_table("users") as table:
        table.drop_column("deactivated_at")
        table.drop_column("directory_dn")
