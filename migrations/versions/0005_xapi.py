"""Training from the learning record store: e-mail addresses, handled statements, cursors.

Users gain an optional, unique `email` (how xAPI statements name people). Each statement id
read from the learning record store is kept in `xapi_statements`, so that it is applied once;
`xapi_cursors` remembers, per store, the last `stored` time read and the ids stored then.
Completions are found by their `source` (`xapi:<statement id>`) when a statement is voided.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import op

if TYPE_CHECKING:
    from collections.abc import Sequence

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as table:
        table.add_column(sa.Column("email", sa.String(320), nullable=True))
        table.create_unique_constraint("uq_users_email", ["email"])
    op.create_index(
        "ix_training_completions_source", "training_completions", ["source"], unique=False
    )
    op.create_table(
        "xapi_statements",
        sa.Column("statement_id", sa.String(36), nullable=False),
        sa.Column("outcome", sa.String(30), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("statement_id", name="pk_xapi_statements"),
    )
    op.create_table(
        "xapi_cursors",
        sa.Column("lrs_url", sa.String(1000), nullable=False),
        sa.Column("stored", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ids_at_stored", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("lrs_url", name="pk_xapi_cursors"),
    )


def downgrade() -> None:
    op.drop_table("xapi_cursors")
    op.drop_table("xapi_statements")
    op.drop_index("ix_training_completions_source", table_name="training_completions")
    with op.batch_alter_table("users") as table:
        table.drop_constraint("uq_users_email", type_="unique")
        table.drop_column("email")
