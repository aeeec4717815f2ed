"""audit detail: the parameters of a research export

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_event") as batch:
        batch.add_column(
            sa.Column("detail", sqlmodel.sql.sqltypes.AutoString(length=255), server_default="", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("audit_event") as batch:
        batch.drop_column("detail")
