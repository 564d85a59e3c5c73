"""Disputes: internal disputes and chargebacks of escrows.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

ID = sa.String(40)
TS = sa.DateTime(timezone=True)
STATUSES = ("open", "under_review", "resolved", "closed")
KINDS = ("internal", "chargeback")
OUTCOMES = ("release", "refund", "partial_refund", "split", "won", "lost")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "disputes",
        sa.Column("id", ID, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("escrow_id", ID, nullable=False),
        sa.Column("allocation_id", ID, nullable=True),
        sa.Column("opened_by", ID, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("description", sa.String(2000), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("amount_released", sa.BigInteger(), nullable=False),
        sa.Column("amount_refunded", sa.BigInteger(), nullable=False),
        sa.Column("resolution_notes", sa.String(2000), nullable=True),
        sa.Column("resolved_by", ID, nullable=True),
        sa.Column("provider_dispute_id", sa.String(255), nullable=True),
        sa.Column("provider_withdrawn", sa.BigInteger(), nullable=False),
        sa.Column("provider_reinstated", sa.BigInteger(), nullable=False),
        sa.Column("provider_fee", sa.BigInteger(), nullable=False),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("reviewed_at", TS, nullable=True),
        sa.Column("resolved_at", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint("amount > 0", name="ck_disputes_amount_positive"),
        sa.CheckConstraint(_in("status", STATUSES), name="ck_disputes_status"),
        sa.CheckConstraint(_in("kind", KINDS), name="ck_disputes_kind"),
        sa.CheckConstraint(
            f"outcome IS NULL OR {_in('outcome', OUTCOMES)}", name="ck_disputes_outcome"
        ),
        sa.UniqueConstraint("provider_dispute_id", name="uq_disputes_provider_dispute_id"),
    )
    op.create_index("ix_disputes_escrow_id", "disputes", ["escrow_id"])
    op.create_index("ix_disputes_escrow_id_status", "disputes", ["escrow_id", "status"])
    op.create_index("ix_disputes_resolved_at", "disputes", ["resolved_at"])


def downgrade() -> None:
    op.drop_table("disputes")
