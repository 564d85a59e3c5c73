"""Per-payee fee policy overrides.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payee_fee_policies",
        sa.Column("party_id", sa.String(40), primary_key=True),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "party_id LIKE 'usr\\_%' ESCAPE '\\' OR party_id LIKE 'org\\_%' ESCAPE '\\'",
            name="ck_payee_fee_policies_party",
        ),
    )


def downgrade() -> None:
    op.drop_table("payee_fee_policies")
