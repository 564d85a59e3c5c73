"""An index on ledger account codes: a party's balances are read by their account codes
(``payee:<party>:available`` …) in every currency at once, which the ``(currency, code)``
unique index cannot serve.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_ledger_accounts_code", "ledger_accounts", ["code"])


def downgrade() -> None:
    op.drop_index("ix_ledger_accounts_code", table_name="ledger_accounts")
