"""Seed 000's job marketplace (jobs and tester slots), and the core's shared rate limiter.

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rate_limit_buckets",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("hits", sa.Text(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
    )
    op.create_table(
        "testing_jobs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("client_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("budget_per_tester", sa.BigInteger(), nullable=False),
        sa.Column("max_testers", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("escrow_id", sa.String(40), sa.ForeignKey("escrows.id"), nullable=True),
        sa.Column("published_at", _utc(), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.CheckConstraint(
            "status IN ('draft', 'open', 'completed', 'cancelled')",
            name="ck_testing_jobs_status",
        ),
        sa.CheckConstraint("budget_per_tester > 0", name="ck_testing_jobs_budget"),
        sa.CheckConstraint("max_testers > 0", name="ck_testing_jobs_max_testers"),
        sa.UniqueConstraint("escrow_id", name="uq_testing_jobs_escrow_id"),
    )
    op.create_index("ix_testing_jobs_status", "testing_jobs", ["status"])
    op.create_index("ix_testing_jobs_client_id", "testing_jobs", ["client_id"])
    op.create_table(
        "testing_slots",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "job_id",
            sa.String(40),
            sa.ForeignKey("testing_jobs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "allocation_id",
            sa.String(40),
            sa.ForeignKey("escrow_allocations.id"),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("tester_id", sa.String(40), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("submission", sa.Text(), nullable=True),
        sa.Column("feedback", sa.Text(), nullable=True),
        sa.Column("dispute_id", sa.String(40), nullable=True),
        sa.Column("status_before_dispute", sa.String(16), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'claimed', 'submitted', 'rejected', 'disputed', 'paid', "
            "'refunded')",
            name="ck_testing_slots_status",
        ),
        sa.UniqueConstraint("allocation_id", name="uq_testing_slots_allocation_id"),
    )
    op.create_index("ix_testing_slots_job_id", "testing_slots", ["job_id"])
    op.create_index("ix_testing_slots_tester_id", "testing_slots", ["tester_id"])


def downgrade() -> None:
    op.drop_table("testing_slots")
    op.drop_table("testing_jobs")
    op.drop_table("rate_limit_buckets")
