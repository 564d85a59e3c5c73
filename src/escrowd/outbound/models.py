"""Tables: webhook_endpoints, webhook_deliveries, webhook_attempts, webhook_fanout
(migration 0017; keep the two in step).

A delivery is one event for one endpoint, made at most once (unique endpoint + event); each
HTTP try is an attempt row, the delivery log. ``webhook_fanout`` holds how far the fan-out
sweep has read the events table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from escrowd.db.base import Base, UTCDateTime

ID = String(40)


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_enabled", "enabled"),)

    #: ``we_<ULID>``.
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(String(500))
    #: The filters: ``["*"]``, types (``escrow.funded``) or prefixes (``payout.*``).
    enabled_events: Mapped[list[str]] = mapped_column(JSON)
    #: ``whsec_…``: kept, because escrowd signs with it; shown once (create, rotate).
    secret: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(Boolean)
    #: Why it is disabled: ``gone`` (it answered 410) or ``manual``.
    disabled_reason: Mapped[str | None] = mapped_column(String(32))
    #: The admin (``usr_…``) or API key (``key_…``) that created it.
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_deliveries_endpoint_event"),
        CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
        Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),
    )

    #: ``dlv_<ULID>``.
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(ID, ForeignKey("webhook_endpoints.id"))
    event_id: Mapped[str] = mapped_column(ID, ForeignKey("events.id"))
    event_type: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    #: Attempts made so far (each has a ``webhook_attempts`` row).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: When the next attempt is due, while pending.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Whether a failed attempt schedules the next one: an admin's redelivery is one attempt.
    scheduled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"
    __table_args__ = (
        UniqueConstraint("delivery_id", "number", name="uq_webhook_attempts_delivery_number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(ID, ForeignKey("webhook_deliveries.id"))
    #: 1 for the first attempt of the delivery.
    number: Mapped[int] = mapped_column(Integer)
    #: The HTTP status, or null when there was no answer (see ``error``).
    status_code: Mapped[int | None] = mapped_column(Integer)
    #: Why there was no answer (refused address, timeout, connection error), or that a 3xx
    #: was not followed; else null.
    error: Mapped[str | None] = mapped_column(Text)
    #: The start of the receiver's answer, for the log.
    response_body: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)
    #: ``admin`` for a redelivery, ``schedule`` otherwise.
    trigger: Mapped[str] = mapped_column(String(16))
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookFanout(Base):
    """One row: the ``created_at`` of the newest event the fan-out sweep has read."""

    __tablename__ = "webhook_fanout"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    read_until: Mapped[datetime] = mapped_column(UTCDateTime)
