"""The directory entry's permanent identifier on each user it manages.

`users.directory_id` holds `entryUUID:<uuid>` (OpenLDAP, 389-ds), `objectGUID:<guid>`
(Active Directory) or `nsUniqueId:<id>` (389-ds, FreeIPA), set by `leeway users sync`, so
that a person renamed in the directory, DN and username both, stays the same user with
their training and grants. Unique when set; users the sync does not manage have none.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import op

if TYPE_CHECKING:
    from collections.abc import Sequence

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as table:
        table.add_column(sa.Column("directory_id", sa.String(100), nullable=True))
        table.create_unique_constraint("uq_users_directory_id", ["directory_id"])


def downgrade() -> None:
    with op.batch_alter_table("users") as table:
        table.drop_constraint("uq_users_directory_id", type_="unique")
        table.drop_column("directory_id")
