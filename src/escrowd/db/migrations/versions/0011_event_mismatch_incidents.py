"""Webhook events whose claims the provider contradicts: a ``rejected`` status, and incidents
that record them (an incident no longer needs a job; it says what it is about and carries the
evidence).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_OLD_STATUSES = "status IN ('received', 'processed', 'failed', 'ignored')"
_NEW_STATUSES = "status IN ('received', 'processed', 'failed', 'ignored', 'rejected')"


def upgrade() -> None:
    with op.batch_alter_table("inbound_webhook_events") as batch:
        batch.drop_constraint("ck_inbound_webhook_events_status", type_="check")
        batch.create_check_constraint("ck_inbound_webhook_events_status", _NEW_STATUSES)
    with op.batch_alter_table("incidents") as batch:
        batch.alter_column("job_id", existing_type=sa.String(40), nullable=True)
        batch.add_column(sa.Column("subject", sa.String(255), nullable=True))
        batch.add_column(sa.Column("details", sa.JSON(), nullable=True))
    op.create_index("ix_incidents_subject", "incidents", ["subject"])


def downgrade() -> None:
    op.drop_index("ix_incidents_subject", table_name="incidents")
    op.execute("DELETE FROM incidents WHERE job_id IS NULL")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("details")
        batch.drop_column("subject")
        batch.alter_column("job_id", existing_type=sa.String(40), nullable=False)
    op.execute("UPDATE inbound_webhook_events SET status = 'failed' WHERE status = 'rejected'")
    with op.batch_alter_table("inbound_webhook_events") as batch:
        batch.drop_constraint("ck_inbound_webhook_events_status", type_="check")
        batch.create_check_constraint("ck_inbound_webhook_events_status", _OLD_STATUSES)
