"""The double-entry ledger: accounts, transfers, entries, failed transfer ids.

The CHECK constraints repeat the rules the service enforces, so a bug or a hand-written
statement cannot store an unbalanced or over-limit figure either: positive amounts, two
different accounts, kind-dependent columns, and the account flags' limits.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def _money(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("code", sa.String(200), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("flags", sa.Integer(), nullable=False),
        _money("debits_pending"),
        _money("debits_posted"),
        _money("credits_pending"),
        _money("credits_posted"),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_accounts"),
        sa.UniqueConstraint("currency", "code", name="uq_ledger_accounts_currency_code"),
        sa.CheckConstraint("flags IN (0, 1, 2)", name="ck_ledger_accounts_flags"),
        sa.CheckConstraint(
            "debits_pending >= 0 AND debits_posted >= 0 AND credits_pending >= 0 "
            "AND credits_posted >= 0 AND version >= 0",
            name="ck_ledger_accounts_figures_not_negative",
        ),
        sa.CheckConstraint(
            "(flags & 1) = 0 OR debits_pending + debits_posted <= credits_posted",
            name="ck_ledger_accounts_debits_within_credits",
        ),
        sa.CheckConstraint(
            "(flags & 2) = 0 OR credits_pending + credits_posted <= debits_posted",
            name="ck_ledger_accounts_credits_within_debits",
        ),
        sa.CheckConstraint(
            "currency = lower(currency) AND length(currency) = 3",
            name="ck_ledger_accounts_currency",
        ),
    )
    op.create_table(
        "ledger_transfers",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("debit_account_id", sa.String(40), nullable=False),
        sa.Column("credit_account_id", sa.String(40), nullable=False),
        _money("amount"),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("pending_id", sa.String(128), nullable=True),
        sa.Column("state", sa.String(8), nullable=True),
        sa.Column("batch_id", sa.String(128), nullable=True),
        sa.Column("reference", sa.String(128), nullable=True),
        sa.Column("category", sa.String(32), nullable=True),
        sa.Column("effective_at", _TS, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("payload_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_transfers"),
        sa.ForeignKeyConstraint(
            ["debit_account_id"],
            ["ledger_accounts.id"],
            name="fk_ledger_transfers_debit_account_id_ledger_accounts",
        ),
        sa.ForeignKeyConstraint(
            ["credit_account_id"],
            ["ledger_accounts.id"],
            name="fk_ledger_transfers_credit_account_id_ledger_accounts",
        ),
        sa.ForeignKeyConstraint(
            ["pending_id"],
            ["ledger_transfers.id"],
            name="fk_ledger_transfers_pending_id_ledger_transfers",
        ),
        # A hold is settled (posted or voided) at most once.
        sa.UniqueConstraint("pending_id", name="uq_ledger_transfers_pending_id"),
        sa.CheckConstraint("amount > 0", name="ck_ledger_transfers_amount_positive"),
        sa.CheckConstraint(
            "debit_account_id <> credit_account_id", name="ck_ledger_transfers_accounts_differ"
        ),
        sa.CheckConstraint(
            "kind IN ('posted', 'pending', 'post_pending', 'void_pending')",
            name="ck_ledger_transfers_kind",
        ),
        sa.CheckConstraint(
            "(kind IN ('posted', 'pending') AND pending_id IS NULL) OR "
            "(kind IN ('post_pending', 'void_pending') AND pending_id IS NOT NULL)",
            name="ck_ledger_transfers_pending_id_by_kind",
        ),
        sa.CheckConstraint(
            "(kind = 'pending' AND state IN ('pending', 'posted', 'voided')) OR "
            "(kind <> 'pending' AND state IS NULL)",
            name="ck_ledger_transfers_state_by_kind",
        ),
    )
    op.create_index("ix_ledger_transfers_reference", "ledger_transfers", ["reference"])
    op.create_table(
        "ledger_entries",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
            autoincrement=True,
        ),
        sa.Column("transfer_id", sa.String(128), nullable=False),
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("side", sa.String(6), nullable=False),
        _money("amount"),
        _money("posted_before"),
        _money("posted_after"),
        _money("pending_before"),
        _money("pending_after"),
        sa.Column("version_after", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_entries"),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["ledger_transfers.id"],
            name="fk_ledger_entries_transfer_id_ledger_transfers",
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_accounts.id"],
            name="fk_ledger_entries_account_id_ledger_accounts",
        ),
        sa.UniqueConstraint("transfer_id", "side", name="uq_ledger_entries_transfer_id_side"),
        sa.UniqueConstraint(
            "account_id", "version_after", name="uq_ledger_entries_account_id_version_after"
        ),
        sa.CheckConstraint("side IN ('debit', 'credit')", name="ck_ledger_entries_side"),
        sa.CheckConstraint("amount > 0", name="ck_ledger_entries_amount_positive"),
        sa.CheckConstraint("version_after > 0", name="ck_ledger_entries_version_positive"),
    )
    op.create_table(
        "ledger_failed_transfers",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("payload_hash", sa.String(64), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_failed_transfers"),
    )


def downgrade() -> None:
    op.drop_table("ledger_failed_transfers")
    op.drop_table("ledger_entries")
    op.drop_index("ix_ledger_transfers_reference", table_name="ledger_transfers")
    op.drop_table("ledger_transfers")
    op.drop_table("ledger_accounts")
