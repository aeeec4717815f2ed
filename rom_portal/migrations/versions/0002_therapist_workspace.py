"""therapist workspace: measurement plans, reminders

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel

import rom_portal.models.base
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "measurement_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("registration_id", sa.Integer(), nullable=False),
        sa.Column("questionnaire_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column(
            "respondent", sa.Enum("self", "informant", name="respondent", native_enum=False, length=16), nullable=False
        ),
        sa.Column("informant_label", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("start_on", sa.Date(), nullable=False),
        sa.Column("interval_weeks", sa.Integer(), nullable=True),
        sa.Column("end_on", sa.Date(), nullable=True),
        sa.Column("occurrences", sa.Integer(), nullable=True),
        sa.Column("open_days_before", sa.Integer(), nullable=False),
        sa.Column("created_at", rom_portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("cancelled_at", rom_portal.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["registration_id"], ["registration.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("measurement_plan", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_measurement_plan_public_id"), ["public_id"], unique=True)
        batch_op.create_index(batch_op.f("ix_measurement_plan_registration_id"), ["registration_id"], unique=False)

    op.create_table(
        "reminder",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("registration_id", sa.Integer(), nullable=False),
        sa.Column("sent_at", rom_portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["registration_id"], ["registration.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reminder_registration_id"), ["registration_id"], unique=False)

    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("opens_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("plan_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("occasion", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("reminded_at", rom_portal.models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_assignment_plan_id"), ["plan_id"], unique=False)
        batch_op.create_foreign_key(
            "fk_assignment_plan_id", "measurement_plan", ["plan_id"], ["id"], ondelete="SET NULL"
        )

    with op.batch_alter_table("registration", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reminder_email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("registration", schema=None) as batch_op:
        batch_op.drop_column("reminder_email")

    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.drop_constraint("fk_assignment_plan_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_assignment_plan_id"))
        batch_op.drop_column("reminded_at")
        batch_op.drop_column("occasion")
        batch_op.drop_column("plan_id")
        batch_op.drop_column("opens_on")

    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reminder_registration_id"))

    op.drop_table("reminder")
    with op.batch_alter_table("measurement_plan", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_measurement_plan_registration_id"))
        batch_op.drop_index(batch_op.f("ix_measurement_plan_public_id"))

    op.drop_table("measurement_plan")
