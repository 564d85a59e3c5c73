"""Seed 002's gigs: a client hires an expert, paid through an escrow.

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gigs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("client_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("expert_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("description", sa.String(500), nullable=True),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("escrow_id", sa.String(40), sa.ForeignKey("escrows.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name="ck_gigs_amount"),
        sa.UniqueConstraint("client_id", "idempotency_key", name="uq_gigs_client_key"),
        sa.UniqueConstraint("escrow_id", name="uq_gigs_escrow_id"),
    )
    op.create_index("ix_gigs_client_id", "gigs", ["client_id"])
    op.create_index("ix_gigs_expert_id", "gigs", ["expert_id"])


def downgrade() -> None:
    op.drop_table("gigs")
