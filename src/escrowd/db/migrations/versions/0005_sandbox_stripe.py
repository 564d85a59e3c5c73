"""The Stripe sandbox's own tables: objects, idempotency keys, events, balance entries, clock.

The sandbox keeps Stripe objects as JSON documents (one row per object, typed by ``type``):
it serves Stripe's shapes back as they were stored, and a new field needs no migration.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sandbox_stripe_objects",
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(96), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("parent", sa.String(96), nullable=True),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("due_at", sa.BigInteger(), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("private", sa.Text(), nullable=True),
        sa.UniqueConstraint("id", name="uq_sandbox_stripe_objects_id"),
    )
    op.create_index(
        "ix_sandbox_stripe_objects_type_account_seq",
        "sandbox_stripe_objects",
        ["type", "account", "seq"],
    )
    op.create_index(
        "ix_sandbox_stripe_objects_parent", "sandbox_stripe_objects", ["parent", "type"]
    )
    op.create_index("ix_sandbox_stripe_objects_due_at", "sandbox_stripe_objects", ["due_at"])

    op.create_table(
        "sandbox_stripe_idempotency",
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("scope", "key", name="uq_sandbox_stripe_idempotency_scope_key"),
    )

    op.create_table(
        "sandbox_stripe_events",
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(80), nullable=False),
        sa.Column("account", sa.String(64), nullable=True),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.UniqueConstraint("id", name="uq_sandbox_stripe_events_id"),
        sa.CheckConstraint(
            "state IN ('pending', 'delivered', 'failed')", name="ck_sandbox_stripe_events_state"
        ),
    )
    op.create_index(
        "ix_sandbox_stripe_events_state_next", "sandbox_stripe_events", ["state", "next_attempt_at"]
    )
    op.create_index("ix_sandbox_stripe_events_type", "sandbox_stripe_events", ["type", "seq"])

    op.create_table(
        "sandbox_stripe_balance",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("net", sa.BigInteger(), nullable=False),
        sa.Column("available_on", sa.BigInteger(), nullable=False),
    )
    op.create_index(
        "ix_sandbox_stripe_balance_account", "sandbox_stripe_balance", ["account", "currency"]
    )

    clock = op.create_table(
        "sandbox_stripe_clock",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("offset_seconds", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(clock, [{"id": 1, "offset_seconds": 0}])


def downgrade() -> None:
    op.drop_table("sandbox_stripe_clock")
    op.drop_index("ix_sandbox_stripe_balance_account", table_name="sandbox_stripe_balance")
    op.drop_table("sandbox_stripe_balance")
    op.drop_index("ix_sandbox_stripe_events_type", table_name="sandbox_stripe_events")
    op.drop_index("ix_sandbox_stripe_events_state_next", table_name="sandbox_stripe_events")
    op.drop_table("sandbox_stripe_events")
    op.drop_table("sandbox_stripe_idempotency")
    op.drop_index("ix_sandbox_stripe_objects_due_at", table_name="sandbox_stripe_objects")
    op.drop_index("ix_sandbox_stripe_objects_parent", table_name="sandbox_stripe_objects")
    op.drop_index("ix_sandbox_stripe_objects_type_account_seq", table_name="sandbox_stripe_objects")
    op.drop_table("sandbox_stripe_objects")
