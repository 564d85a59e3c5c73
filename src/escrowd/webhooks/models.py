"""Table: inbound_webhook_events (migration 0004).

One row per provider event, unique on (provider, event_id): the database, not the code,
guarantees that concurrent duplicate deliveries leave a single row.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from escrowd.db.base import Base, UTCDateTime


class WebhookStatus(StrEnum):
    #: Stored, waiting for (or between) processing attempts.
    received = "received"
    #: Every handler for its kind ran and committed.
    processed = "processed"
    #: A handler raised; retried while ``next_attempt_at`` is set, else left for an admin.
    failed = "failed"
    #: Nothing in escrowd acts on this kind of event; kept for the record.
    ignored = "ignored"
    #: What the event claims was checked against the provider (or escrowd's own records) and
    #: found false: nothing moved, and an incident holds both sides for an admin.
    rejected = "rejected"


class InboundWebhookEvent(Base):
    __tablename__ = "inbound_webhook_events"
    __table_args__ = (
        UniqueConstraint("provider", "event_id"),
        CheckConstraint(
            "status IN ('received', 'processed', 'failed', 'ignored', 'rejected')", name="status"
        ),
        Index("ix_inbound_webhook_events_due", "status", "next_attempt_at"),
        Index("ix_inbound_webhook_events_object", "provider", "object_id"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    provider: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(255))
    #: The provider's own type string, e.g. ``payment_intent.succeeded``.
    type: Mapped[str] = mapped_column(String(255))
    #: escrowd's neutral EventKind value.
    kind: Mapped[str] = mapped_column(String(64))
    account: Mapped[str | None] = mapped_column(String(255))
    object_id: Mapped[str | None] = mapped_column(String(255))
    object_type: Mapped[str | None] = mapped_column(String(64))
    #: When the provider says the event happened; deliveries arrive in any order.
    event_created: Mapped[datetime] = mapped_column(UTCDateTime)
    raw_body: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    #: When a worker may next pick the row up; NULL once it is settled (or given up on).
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
