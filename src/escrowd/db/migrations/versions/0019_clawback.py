"""Refunds of released money (clawbacks): a ``clawback`` operation kind, and the payees' net
taken back after release per escrow (``net_returned``).

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_OLD_KINDS = "kind IN ('fund', 'capture', 'release', 'refund')"
_NEW_KINDS = "kind IN ('fund', 'capture', 'release', 'refund', 'clawback')"


def upgrade() -> None:
    with op.batch_alter_table("escrow_operations") as batch:
        batch.drop_constraint("ck_escrow_operations_kind", type_="check")
        batch.create_check_constraint("ck_escrow_operations_kind", _NEW_KINDS)
    with op.batch_alter_table("escrows") as batch:
        batch.add_column(
            sa.Column("net_returned", sa.BigInteger(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("escrows") as batch:
        batch.drop_column("net_returned")
    op.execute("DELETE FROM escrow_operations WHERE kind = 'clawback'")
    with op.batch_alter_table("escrow_operations") as batch:
        batch.drop_constraint("ck_escrow_operations_kind", type_="check")
        batch.create_check_constraint("ck_escrow_operations_kind", _OLD_KINDS)
