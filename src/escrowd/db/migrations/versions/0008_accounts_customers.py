"""Connected accounts (payees), customers and their saved payment methods (payers).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

ID = sa.String(40)
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "connected_accounts",
        sa.Column("id", ID, nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("provider_account_id", sa.String(255), nullable=True),
        sa.Column("owner_type", sa.String(16), nullable=False),
        sa.Column("owner_id", ID, nullable=False),
        sa.Column("business_type", sa.String(16), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("requirements", sa.JSON(), nullable=False),
        sa.Column("capabilities", sa.JSON(), nullable=False),
        sa.Column("charges_enabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("payouts_enabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("details_submitted", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_connected_accounts"),
        sa.UniqueConstraint(
            "provider", "owner_type", "owner_id", name="uq_connected_accounts_owner"
        ),
        sa.UniqueConstraint(
            "provider", "provider_account_id", name="uq_connected_accounts_provider_account"
        ),
        sa.CheckConstraint(
            "(owner_type = 'user' AND substr(owner_id, 1, 4) = 'usr_') OR "
            "(owner_type = 'organization' AND substr(owner_id, 1, 4) = 'org_')",
            name="ck_connected_accounts_owner",
        ),
        sa.CheckConstraint(
            "status IN ('pending_verification', 'verified', 'restricted')",
            name="ck_connected_accounts_status",
        ),
    )
    op.create_index("ix_connected_accounts_owner_id", "connected_accounts", ["owner_id"])
    op.create_table(
        "customers",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("provider_customer_id", sa.String(255), nullable=False),
        sa.Column("default_payment_method", sa.String(255), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "provider", name="pk_customers"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], ondelete="CASCADE", name="fk_customers_user_id_users"
        ),
        sa.UniqueConstraint(
            "provider", "provider_customer_id", name="uq_customers_provider_customer"
        ),
    )
    op.create_table(
        "payment_methods",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("provider_customer_id", sa.String(255), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("brand", sa.String(32), nullable=True),
        sa.Column("last4", sa.String(4), nullable=True),
        sa.Column("exp_month", sa.Integer(), nullable=True),
        sa.Column("exp_year", sa.Integer(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_payment_methods"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], ondelete="CASCADE", name="fk_payment_methods_user_id_users"
        ),
    )
    op.create_index("ix_payment_methods_user_id_id", "payment_methods", ["user_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_payment_methods_user_id_id", table_name="payment_methods")
    op.drop_table("payment_methods")
    op.drop_table("customers")
    op.drop_index("ix_connected_accounts_owner_id", table_name="connected_accounts")
    op.drop_table("connected_accounts")
