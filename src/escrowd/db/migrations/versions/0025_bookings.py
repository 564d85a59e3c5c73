"""Seed 001's handwork marketplace: job postings, applications, bookings.

Revision ID: 0025
Revises: 0024
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "booking_jobs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("client_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.String(2000), nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("budget", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.CheckConstraint("status IN ('open', 'filled')", name="ck_booking_jobs_status"),
        sa.CheckConstraint("budget > 0", name="ck_booking_jobs_budget"),
    )
    op.create_index("ix_booking_jobs_status", "booking_jobs", ["status"])
    op.create_index("ix_booking_jobs_client_id", "booking_jobs", ["client_id"])
    op.create_table(
        "booking_applications",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "job_id",
            sa.String(40),
            sa.ForeignKey("booking_jobs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("worker_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("message", sa.String(2000), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'hired', 'declined')", name="ck_booking_applications_status"
        ),
        sa.CheckConstraint("amount > 0", name="ck_booking_applications_amount"),
        sa.UniqueConstraint("job_id", "worker_id", name="uq_booking_applications_job_worker"),
    )
    op.create_index("ix_booking_applications_job_id", "booking_applications", ["job_id"])
    op.create_index("ix_booking_applications_worker_id", "booking_applications", ["worker_id"])
    op.create_table(
        "bookings",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("job_id", sa.String(40), sa.ForeignKey("booking_jobs.id"), nullable=False),
        sa.Column(
            "application_id",
            sa.String(40),
            sa.ForeignKey("booking_applications.id"),
            nullable=False,
        ),
        sa.Column("client_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("worker_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("fee_bps", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("escrow_id", sa.String(40), sa.ForeignKey("escrows.id"), nullable=False),
        sa.Column("completed_at", _utc(), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.CheckConstraint("status IN ('hired', 'completed')", name="ck_bookings_status"),
        sa.CheckConstraint("amount > 0", name="ck_bookings_amount"),
        sa.UniqueConstraint("job_id", name="uq_bookings_job_id"),
        sa.UniqueConstraint("application_id", name="uq_bookings_application_id"),
        sa.UniqueConstraint("escrow_id", name="uq_bookings_escrow_id"),
    )
    op.create_index("ix_bookings_client_id", "bookings", ["client_id"])
    op.create_index("ix_bookings_worker_id", "bookings", ["worker_id"])


def downgrade() -> None:
    op.drop_table("bookings")
    op.drop_table("booking_applications")
    op.drop_table("booking_jobs")
