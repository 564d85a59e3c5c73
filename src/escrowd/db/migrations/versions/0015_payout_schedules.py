"""Automatic payouts: payout_schedules, and payouts.schedule_key (once per period).

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

ID = sa.String(40)
TS = sa.DateTime(timezone=True)
INTERVALS = ("daily", "weekly", "monthly", "manual")


def upgrade() -> None:
    op.create_table(
        "payout_schedules",
        sa.Column("party_id", ID, primary_key=True),
        sa.Column("interval", sa.String(16), nullable=False),
        sa.Column("weekly_anchor", sa.String(16), nullable=True),
        sa.Column("monthly_anchor", sa.Integer(), nullable=True),
        sa.Column("minimum_amount", sa.BigInteger(), nullable=False),
        sa.Column("last_period", sa.String(10), nullable=True),
        sa.Column("skip_code", sa.String(64), nullable=True),
        sa.Column("skip_message", sa.String(500), nullable=True),
        sa.Column("skipped_at", TS, nullable=True),
        sa.Column("updated_by", ID, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint(
            f"interval IN ({', '.join(repr(i) for i in INTERVALS)})",
            name="ck_payout_schedules_interval",
        ),
        sa.CheckConstraint("minimum_amount >= 0", name="ck_payout_schedules_minimum_not_negative"),
        sa.CheckConstraint(
            "monthly_anchor IS NULL OR (monthly_anchor >= 1 AND monthly_anchor <= 31)",
            name="ck_payout_schedules_monthly_anchor",
        ),
    )
    op.add_column("payouts", sa.Column("schedule_key", sa.String(120), nullable=True))
    op.create_index("uq_payouts_schedule_key", "payouts", ["schedule_key"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_payouts_schedule_key", table_name="payouts")
    with op.batch_alter_table("payouts") as batch:
        batch.drop_column("schedule_key")
    op.drop_table("payout_schedules")
