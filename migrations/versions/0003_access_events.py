"""Access events (the audit trail) and the record of deliberate look-ups at one person.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import op

if TYPE_CHECKING:
    from collections.abc import Sequence

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "access_events",
        sa.Column("id", sa.Integer(), nullable=False),
        # Made by the proxy when the event happens: a replay inserts ON CONFLICT DO NOTHING.
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("occurred_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("username", sa.String(255), nullable=True),
        sa.Column("department", sa.String(100), nullable=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("category", sa.String(100), nullable=False),
        sa.Column("access", sa.String(10), nullable=False),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("reason", sa.String(50), nullable=False),
        sa.Column("rule", sa.String(100), nullable=True),
        sa.Column("instance", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_access_events"),
        sa.UniqueConstraint("event_id", name="uq_access_events_event_id"),
    )
    # Pruning and reports scan by time; `leeway audit user` by person, then time.
    op.create_index("ix_access_events_occurred_at", "access_events", ["occurred_at"])
    op.create_index(
        "ix_access_events_username_occurred_at", "access_events", ["username", "occurred_at"]
    )
    op.create_table(
        "audit_lookups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("operator", sa.String(255), nullable=False),
        sa.Column("subject_username", sa.String(255), nullable=False),
        sa.Column("since", UTC_TIMESTAMP, nullable=False),
        sa.Column("looked_at", UTC_TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_lookups"),
    )


def downgrade() -> None:
    op.drop_table("audit_lookups")
    op.drop_index("ix_access_events_username_occurred_at", table_name="access_events")
    op.drop_index("ix_access_events_occurred_at", table_name="access_events")
    op.drop_table("access_events")
