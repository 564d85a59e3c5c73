"""Tables: events, event_audience (migration 0006; keep the two in step).

Events are append-only: written once, in the transaction of the change they describe, and
never updated. ``event_audience`` says who besides admins may read an event: one row per party
(a user ``usr_…`` or an organization ``org_…``). Its primary key (party_id, event_id) is the
index a party's newest-first list walks.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, PrimaryKeyConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from escrowd.db.base import Base, UTCDateTime

ID = String(40)


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_type_id", "type", "id"),
        Index("ix_events_object_id_id", "object_id", "id"),
        Index("ix_events_created_at", "created_at"),
    )

    #: ``evt_<ULID>``; increasing within a process, so one unit of work lists in order.
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    #: An ``EventType`` value, e.g. ``escrow.funded``.
    type: Mapped[str] = mapped_column(String(64))
    #: An ``ObjectType`` value: what ``data`` is.
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(64))
    #: JSON text: the object's API representation when the event happened.
    data: Mapped[str] = mapped_column(Text)
    #: JSON text: the changed fields' values before the change, or null.
    previous_attributes: Mapped[str | None] = mapped_column(Text)
    #: The API request that caused it (``Request-Id``), or null for jobs, sweeps and webhooks.
    request_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EventAudience(Base):
    __tablename__ = "event_audience"
    __table_args__ = (PrimaryKeyConstraint("party_id", "event_id", name="pk_event_audience"),)

    party_id: Mapped[str] = mapped_column(ID)
    event_id: Mapped[str] = mapped_column(ID, ForeignKey("events.id", ondelete="CASCADE"))
