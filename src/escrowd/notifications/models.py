"""Tables: notifications, notification_preferences, notification_cursors (migration 0016;
keep the two in step).

A notification is made once per (event, user, type): the unique constraint is what makes the
sweep safe to run twice or concurrently. A preference row exists only where a user changed
the default (email on).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from escrowd.db.base import Base, UTCDateTime

ID = String(40)


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("event_id", "user_id", "type", name="uq_notifications_event_user_type"),
        # A user's list walks (user_id, id) newest first; the unread count reads read_at too.
        Index("ix_notifications_user_id_id", "user_id", "id"),
        Index("ix_notifications_user_id_read_at", "user_id", "read_at"),
    )

    #: ``ntf_<ULID>``.
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    user_id: Mapped[str] = mapped_column(ID, ForeignKey("users.id", ondelete="CASCADE"))
    #: A ``NotificationType`` value.
    type: Mapped[str] = mapped_column(String(64))
    #: The event that caused it (``evt_…``).
    event_id: Mapped[str] = mapped_column(ID)
    #: What it is about: the event's object (an escrow, allocation, payout, account, …).
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class NotificationPreference(Base):
    __tablename__ = "notification_preferences"

    user_id: Mapped[str] = mapped_column(
        ID, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    type: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class NotificationCursor(Base):
    """How far the sweep has read the events table: every event up to ``event_id`` (in id
    order) has had its notifications made."""

    __tablename__ = "notification_cursors"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    event_id: Mapped[str] = mapped_column(ID)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
