"""Subscriptions: membership plans (seeded with Starter, Pro and Team), subscriptions and
plan-limit usage.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

ID = sa.String(40)
TS = sa.DateTime(timezone=True)
STATUSES = ("incomplete", "active", "past_due", "canceled", "expired")

#: Seed 000's membership tiers; admins add others with POST /v1/plans.
PLANS = (
    ("starter", "Starter", 0, {"published_jobs_per_month": 5}, "user", "pro"),
    ("pro", "Pro", 4900, {"published_jobs_per_month": None}, "user", None),
    ("team", "Team", 19900, {"published_jobs_per_month": None}, "organization", None),
)


def upgrade() -> None:
    plans = op.create_table(
        "plans",
        sa.Column("code", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("interval", sa.String(8), nullable=False),
        sa.Column("limits", sa.JSON(), nullable=False),
        sa.Column("audience", sa.String(16), nullable=False),
        sa.Column("upgrade_to", sa.String(40), nullable=True),
        sa.Column("provider_product_id", sa.String(255), nullable=True),
        sa.Column("provider_price_id", sa.String(255), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint("amount >= 0", name="ck_plans_amount_not_negative"),
        sa.CheckConstraint("audience IN ('user', 'organization')", name="ck_plans_audience"),
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", ID, primary_key=True),
        sa.Column("owner_id", ID, nullable=False),
        sa.Column("live_owner", ID, nullable=True),
        sa.Column("payer_id", ID, nullable=False),
        sa.Column("plan_code", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("provider_customer_id", sa.String(255), nullable=False),
        sa.Column("provider_subscription_id", sa.String(255), nullable=True),
        sa.Column("idempotency_key", sa.String(80), nullable=False),
        sa.Column("plan_changes", sa.Integer(), nullable=False),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("current_period_end", TS, nullable=True),
        sa.Column("latest_invoice", sa.String(255), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.CheckConstraint(
            f"status IN ({', '.join(repr(s) for s in STATUSES)})", name="ck_subscriptions_status"
        ),
        sa.UniqueConstraint("live_owner", name="uq_subscriptions_live_owner"),
    )
    op.create_index("ix_subscriptions_owner_id", "subscriptions", ["owner_id"])
    op.create_index(
        "ix_subscriptions_provider_subscription_id", "subscriptions", ["provider_subscription_id"]
    )
    op.create_table(
        "usage_counters",
        sa.Column("owner_id", ID, primary_key=True),
        sa.Column("limit_name", sa.String(64), primary_key=True),
        sa.Column("period", sa.String(7), primary_key=True),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.CheckConstraint("used >= 0", name="ck_usage_counters_used_not_negative"),
    )
    op.create_table(
        "usage_records",
        sa.Column("id", ID, primary_key=True),
        sa.Column("owner_id", ID, nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("limit_name", sa.String(64), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("plan_code", sa.String(40), nullable=False),
        sa.Column("recorded_by", ID, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("owner_id", "key", name="uq_usage_records_owner_key"),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        plans,
        [
            {
                "code": code,
                "name": name,
                "amount": amount,
                "currency": "usd",
                "interval": "month",
                "limits": limits,
                "audience": audience,
                "upgrade_to": upgrade_to,
                "provider_product_id": None,
                "provider_price_id": None,
                "active": True,
                "created_at": now,
                "updated_at": now,
            }
            for code, name, amount, limits, audience, upgrade_to in PLANS
        ],
    )


def downgrade() -> None:
    op.drop_table("usage_records")
    op.drop_table("usage_counters")
    op.drop_table("subscriptions")
    op.drop_table("plans")
