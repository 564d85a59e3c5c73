"""Table: connected_accounts (migration 0008; keep the two in step).

One row per payee per provider. ``id`` is escrowd's own (``acct_…``); the provider's account id
is ``provider_account_id``, null only while the provider call that creates it has not been
stored yet (a retry of the create finishes it with the same idempotency key).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from escrowd.db.base import Base, UTCDateTime

ID = String(40)


class ConnectedAccount(Base):
    __tablename__ = "connected_accounts"
    __table_args__ = (
        UniqueConstraint("provider", "owner_type", "owner_id", name="uq_connected_accounts_owner"),
        UniqueConstraint(
            "provider", "provider_account_id", name="uq_connected_accounts_provider_account"
        ),
        CheckConstraint(
            "(owner_type = 'user' AND substr(owner_id, 1, 4) = 'usr_') OR "
            "(owner_type = 'organization' AND substr(owner_id, 1, 4) = 'org_')",
            name="owner",
        ),
        CheckConstraint(
            "status IN ('pending_verification', 'verified', 'restricted')", name="status"
        ),
        Index("ix_connected_accounts_owner_id", "owner_id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    provider_account_id: Mapped[str | None] = mapped_column(String(255))
    #: ``user`` or ``organization``.
    owner_type: Mapped[str] = mapped_column(String(16))
    owner_id: Mapped[str] = mapped_column(ID)
    #: ``individual`` (a user) or ``company`` (an organization).
    business_type: Mapped[str] = mapped_column(String(16))
    country: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(32))
    #: currently_due / eventually_due / past_due (lists), current_deadline (unix or null),
    #: disabled_reason (or null).
    requirements: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: capability name → status (``active``, ``inactive``, ``pending``).
    capabilities: Mapped[dict[str, str]] = mapped_column(JSON)
    charges_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    payouts_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    details_submitted: Mapped[bool] = mapped_column(Boolean, default=False)
    meta: Mapped[dict[str, str]] = mapped_column("metadata", JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: The moment the stored provider state describes: escrowd's clock when it was read from
    #: the provider, the event's time when an event brought it. Older events are ignored.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: When the owner disconnected the account from the platform (the provider's
    #: ``account.application.deauthorized``, confirmed with the provider: migration 0023).
    #: Set once and never cleared: a disconnection is not undone by a later event.
    deauthorized_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
