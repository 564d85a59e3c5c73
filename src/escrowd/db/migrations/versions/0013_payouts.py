"""Payouts: a payee's available money out through their connected account.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

ID = sa.String(40)
TS = sa.DateTime(timezone=True)
STATUSES = ("requested", "approved", "in_transit", "paid", "failed", "rejected")


def upgrade() -> None:
    op.create_table(
        "payouts",
        sa.Column("id", ID, primary_key=True),
        sa.Column("party_id", ID, nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("provider_account_id", sa.String(255), nullable=False),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("provider_payout_id", sa.String(255), nullable=True),
        sa.Column("requested_by", ID, nullable=False),
        sa.Column("reviewed_by", ID, nullable=True),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("failure_code", sa.String(64), nullable=True),
        sa.Column("failure_message", sa.String(500), nullable=True),
        sa.Column("arrival_date", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint("amount > 0", name="ck_payouts_amount_positive"),
        sa.CheckConstraint(
            f"status IN ({', '.join(repr(s) for s in STATUSES)})", name="ck_payouts_status"
        ),
    )
    op.create_index("ix_payouts_party_id", "payouts", ["party_id"])
    op.create_index("ix_payouts_status", "payouts", ["status"])
    op.create_index("ix_payouts_provider_payout_id", "payouts", ["provider_payout_id"])


def downgrade() -> None:
    op.drop_table("payouts")
