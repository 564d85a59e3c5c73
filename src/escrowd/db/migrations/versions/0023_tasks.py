"""Seed 003's task marketplace (tasks and their bids), and when a connected account was
disconnected from the platform (``connected_accounts.deauthorized_at``).

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("connected_accounts") as batch:
        batch.add_column(sa.Column("deauthorized_at", _utc(), nullable=True))
    op.create_table(
        "task_tasks",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("customer_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.String(2000), nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("doer_id", sa.String(40), nullable=True),
        sa.Column("accepted_bid_id", sa.String(40), nullable=True),
        sa.Column("escrow_id", sa.String(40), sa.ForeignKey("escrows.id"), nullable=True),
        sa.Column("cancel_reason", sa.String(32), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'assigned', 'completed', 'cancelled')",
            name="ck_task_tasks_status",
        ),
        sa.UniqueConstraint("escrow_id", name="uq_task_tasks_escrow_id"),
    )
    op.create_index("ix_task_tasks_customer_id", "task_tasks", ["customer_id"])
    op.create_index("ix_task_tasks_doer_id", "task_tasks", ["doer_id"])
    op.create_index("ix_task_tasks_status", "task_tasks", ["status"])
    op.create_table(
        "task_bids",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "task_id",
            sa.String(40),
            sa.ForeignKey("task_tasks.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("doer_id", sa.String(40), nullable=False),
        sa.Column("placed_by", sa.String(40), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'accepted', 'rejected')", name="ck_task_bids_status"
        ),
        sa.CheckConstraint("amount > 0", name="ck_task_bids_amount"),
    )
    op.create_index("ix_task_bids_task_id", "task_bids", ["task_id"])
    op.create_index("ix_task_bids_doer_id", "task_bids", ["doer_id"])


def downgrade() -> None:
    op.drop_table("task_bids")
    op.drop_table("task_tasks")
    with op.batch_alter_table("connected_accounts") as batch:
        batch.drop_column("deauthorized_at")
