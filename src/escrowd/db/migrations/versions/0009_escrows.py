"""Escrows, their allocations, and the provider operations that move their money.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ID = sa.String(40)
TS = sa.DateTime(timezone=True)
MONEY = sa.BigInteger()
PROVIDER_ID = sa.String(255)

STATUSES = (
    "requires_payment",
    "requires_action",
    "authorized",
    "held",
    "partially_refunded",
    "partially_released",
    "disputed",
    "released",
    "refunded",
    "cancelled",
    "expired",
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "escrows",
        sa.Column("id", ID, nullable=False),
        sa.Column("payer_id", ID, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("surcharge", MONEY, nullable=False, server_default="0"),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("capture_mode", sa.String(16), nullable=False),
        sa.Column("on_authorization_deadline", sa.String(16), nullable=False),
        sa.Column("fee_policy", sa.JSON(), nullable=True),
        sa.Column("description", sa.String(500), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("payment_window_seconds", sa.Integer(), nullable=True),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("inspection_period_seconds", sa.Integer(), nullable=True),
        sa.Column("inspection_ends_at", TS, nullable=True),
        sa.Column("provider", sa.String(16), nullable=True),
        sa.Column("payment_id", PROVIDER_ID, nullable=True),
        sa.Column("charge_id", PROVIDER_ID, nullable=True),
        sa.Column("customer_id", PROVIDER_ID, nullable=True),
        sa.Column("payment_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_action_url", sa.Text(), nullable=True),
        sa.Column("last_payment_error", sa.JSON(), nullable=True),
        sa.Column("last_payment_event_at", TS, nullable=True),
        sa.Column("authorized_at", TS, nullable=True),
        sa.Column("capture_before", TS, nullable=True),
        sa.Column("funded_at", TS, nullable=True),
        sa.Column("provider_fee", MONEY, nullable=True),
        sa.Column("processing_cost_total", MONEY, nullable=True),
        sa.Column("amount_released", MONEY, nullable=False, server_default="0"),
        sa.Column("amount_refunded", MONEY, nullable=False, server_default="0"),
        sa.Column("ledger_funded", MONEY, nullable=False, server_default="0"),
        sa.Column("ledger_released", MONEY, nullable=False, server_default="0"),
        sa.Column("ledger_refunded", MONEY, nullable=False, server_default="0"),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_escrows"),
        sa.UniqueConstraint("payment_id", name="uq_escrows_payment_id"),
        sa.CheckConstraint("amount > 0", name="ck_escrows_amount_positive"),
        sa.CheckConstraint(_in("status", STATUSES), name="ck_escrows_status"),
        sa.CheckConstraint(
            _in("capture_mode", ("authorize", "capture")), name="ck_escrows_capture_mode"
        ),
        sa.CheckConstraint(
            "surcharge >= 0 AND amount_released >= 0 AND amount_refunded >= 0 "
            "AND amount_released + amount_refunded <= amount",
            name="ck_escrows_amounts",
        ),
        sa.CheckConstraint(
            "ledger_funded >= 0 AND ledger_released >= 0 AND ledger_refunded >= 0 "
            "AND ledger_released + ledger_refunded <= ledger_funded",
            name="ck_escrows_ledger_amounts",
        ),
    )
    op.create_index("ix_escrows_payer_id", "escrows", ["payer_id"])
    op.create_index("ix_escrows_status_expires_at", "escrows", ["status", "expires_at"])
    op.create_index(
        "ix_escrows_status_inspection_ends_at", "escrows", ["status", "inspection_ends_at"]
    )
    op.create_index("ix_escrows_status_capture_before", "escrows", ["status", "capture_before"])

    op.create_table(
        "escrow_allocations",
        sa.Column("id", ID, nullable=False),
        sa.Column("escrow_id", ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("payee_id", ID, nullable=True),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("fee_policy", sa.JSON(), nullable=False),
        sa.Column("released", sa.JSON(), nullable=False),
        sa.Column("refunded", sa.JSON(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_escrow_allocations"),
        sa.ForeignKeyConstraint(
            ["escrow_id"],
            ["escrows.id"],
            name="fk_escrow_allocations_escrow_id_escrows",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("escrow_id", "position", name="uq_escrow_allocations_escrow_id"),
        sa.CheckConstraint("amount > 0", name="ck_escrow_allocations_amount_positive"),
    )
    op.create_index("ix_escrow_allocations_payee_id", "escrow_allocations", ["payee_id"])

    op.create_table(
        "escrow_operations",
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("escrow_id", ID, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("allocation_id", ID, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("provider_amount", MONEY, nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("provider_object_id", PROVIDER_ID, nullable=True),
        sa.Column("reversed", MONEY, nullable=False, server_default="0"),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("settled_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_escrow_operations"),
        sa.ForeignKeyConstraint(
            ["escrow_id"],
            ["escrows.id"],
            name="fk_escrow_operations_escrow_id_escrows",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            _in("kind", ("fund", "capture", "release", "refund")),
            name="ck_escrow_operations_kind",
        ),
        sa.CheckConstraint(
            _in("status", ("pending", "succeeded", "failed", "unknown")),
            name="ck_escrow_operations_status",
        ),
    )
    op.create_index("ix_escrow_operations_escrow_id", "escrow_operations", ["escrow_id"])
    op.create_index(
        "ix_escrow_operations_provider_object_id", "escrow_operations", ["provider_object_id"]
    )
    op.create_index(
        "ix_escrow_operations_status_updated_at", "escrow_operations", ["status", "updated_at"]
    )


def downgrade() -> None:
    op.drop_table("escrow_operations")
    op.drop_table("escrow_allocations")
    op.drop_table("escrows")
