"""PayPal payout destinations: a party's PayPal receiver email (``payout_destinations``), and
payouts paid to an email rather than a connected account (``receiver_email``; ``account_id``
and ``provider_account_id`` become optional).

Revision ID: 0026
Revises: 0025
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

ID = sa.String(40)
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "payout_destinations",
        sa.Column("party_id", ID, nullable=False),
        sa.Column("paypal_email", sa.String(254), nullable=True),
        sa.Column("updated_by", ID, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("party_id", name="pk_payout_destinations"),
    )
    with op.batch_alter_table("payouts") as batch:
        batch.add_column(sa.Column("receiver_email", sa.String(254), nullable=True))
        batch.alter_column("account_id", existing_type=ID, nullable=True)
        batch.alter_column("provider_account_id", existing_type=sa.String(255), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("payouts") as batch:
        batch.alter_column("provider_account_id", existing_type=sa.String(255), nullable=False)
        batch.alter_column("account_id", existing_type=ID, nullable=False)
        batch.drop_column("receiver_email")
    op.drop_table("payout_destinations")
