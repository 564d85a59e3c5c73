"""Outbox jobs, the incidents they turn into, and periodic sweeps.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ID = sa.String(40)
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", ID, primary_key=True),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("run_at", TS, nullable=False),
        sa.Column("locked_by", sa.String(100), nullable=True),
        sa.Column("locked_until", TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("dedupe_key", sa.String(200), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
        sa.UniqueConstraint("dedupe_key", name="uq_jobs_dedupe_key"),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed')", name="ck_jobs_status"
        ),
        sa.CheckConstraint(
            "attempts >= 0 AND max_attempts >= 1", name="ck_jobs_attempts_not_negative"
        ),
    )
    op.create_index("ix_jobs_due", "jobs", ["status", "run_at"])
    op.create_index("ix_jobs_lease", "jobs", ["status", "locked_until"])
    op.create_table(
        "incidents",
        sa.Column("id", ID, primary_key=True),
        sa.Column("job_id", ID, nullable=False),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("resolved_at", TS, nullable=True),
        sa.Column("resolution", sa.String(16), nullable=True),
        sa.Column("resolved_by", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_incidents"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_incidents_job_id_jobs"),
        sa.CheckConstraint(
            "(resolved_at IS NULL AND resolution IS NULL) OR "
            "(resolved_at IS NOT NULL AND resolution IN ('replayed', 'dismissed'))",
            name="ck_incidents_resolution",
        ),
    )
    op.create_index("ix_incidents_job_id", "incidents", ["job_id"])
    op.create_index("ix_incidents_resolved_at", "incidents", ["resolved_at"])
    op.create_table(
        "sweeps",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("every_seconds", sa.Integer(), nullable=False),
        sa.Column("next_run_at", TS, nullable=False),
        sa.Column("locked_by", sa.String(100), nullable=True),
        sa.Column("locked_until", TS, nullable=True),
        sa.Column("last_started_at", TS, nullable=True),
        sa.Column("last_finished_at", TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("name", name="pk_sweeps"),
    )


def downgrade() -> None:
    op.drop_table("sweeps")
    op.drop_index("ix_incidents_resolved_at", table_name="incidents")
    op.drop_index("ix_incidents_job_id", table_name="incidents")
    op.drop_table("incidents")
    op.drop_index("ix_jobs_lease", table_name="jobs")
    op.drop_index("ix_jobs_due", table_name="jobs")
    op.drop_table("jobs")
