"""Access events stand for repeated requests: `requests` counts them (1 for older rows).

The proxy keeps one row for identical decisions (same person, host, category, access,
action, reason and rule) made within one audit flush (about a second), instead of a row a
request: a page load's dozens of sub-requests are one row.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import op

if TYPE_CHECKING:
    from collections.abc import Sequence

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("access_events") as table:
        table.add_column(
            sa.Column("requests", sa.Integer(), nullable=False, server_default=sa.text("1"))
        )


def downgrade() -> None:
    with op.batch_alter_table("access_events") as table:
        table.drop_column("requests")
