"""Inbound webhook events: raw deliveries stored once per provider event id.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLE = "inbound_webhook_events"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("account", sa.String(255), nullable=True),
        sa.Column("object_id", sa.String(255), nullable=True),
        sa.Column("object_type", sa.String(64), nullable=True),
        sa.Column("event_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("raw_body", sa.LargeBinary(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_inbound_webhook_events"),
        sa.UniqueConstraint("provider", "event_id", name="uq_inbound_webhook_events_provider"),
        sa.CheckConstraint(
            "status IN ('received', 'processed', 'failed', 'ignored')",
            name="ck_inbound_webhook_events_status",
        ),
    )
    op.create_index("ix_inbound_webhook_events_due", TABLE, ["status", "next_attempt_at"])
    op.create_index("ix_inbound_webhook_events_object", TABLE, ["provider", "object_id"])


def downgrade() -> None:
    op.drop_index("ix_inbound_webhook_events_object", table_name=TABLE)
    op.drop_index("ix_inbound_webhook_events_due", table_name=TABLE)
    op.drop_table(TABLE)
