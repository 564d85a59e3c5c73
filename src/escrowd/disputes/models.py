"""The ``disputes`` table (migration 0014; keep them in step).

One row per dispute, internal or chargeback. ``amount`` is the disputed money: for an internal
dispute the gross that was free in its target when it opened, for a chargeback what the provider
says the card holder disputes. ``opened_at`` and ``resolved_at`` (set on resolve and on close)
give the resolution time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from escrowd.db.base import Base, UTCDateTime
from escrowd.disputes.domain import DisputeKind, DisputeStatus, Outcome

ID = String(40)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Dispute(Base):
    __tablename__ = "disputes"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(_in("status", tuple(s.value for s in DisputeStatus)), name="status"),
        CheckConstraint(_in("kind", tuple(k.value for k in DisputeKind)), name="kind"),
        CheckConstraint(
            f"outcome IS NULL OR {_in('outcome', tuple(o.value for o in Outcome))}",
            name="outcome",
        ),
        Index("ix_disputes_escrow_id_status", "escrow_id", "status"),
        Index("ix_disputes_resolved_at", "resolved_at"),
    )

    #: ``dsp_<ULID>``.
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    escrow_id: Mapped[str] = mapped_column(ID, index=True)
    #: The one allocation disputed, or null for the escrow as a whole.
    allocation_id: Mapped[str | None] = mapped_column(ID)
    #: Who opened it (``usr_…``), or null for an API key or the provider.
    opened_by: Mapped[str | None] = mapped_column(ID)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(String(2000))
    #: ``[{"author": usr_…|null, "note": str, "created": unix}]``, oldest first.
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    outcome: Mapped[str | None] = mapped_column(String(16))
    amount_released: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    resolution_notes: Mapped[str | None] = mapped_column(String(2000))
    resolved_by: Mapped[str | None] = mapped_column(ID)
    #: The provider's dispute (``dp_…``) behind a chargeback.
    provider_dispute_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    #: What the provider took from the platform's balance, gave back, and charged as fees,
    #: as booked in the ledger so far.
    provider_withdrawn: Mapped[int] = mapped_column(BigInteger, default=0)
    provider_reinstated: Mapped[int] = mapped_column(BigInteger, default=0)
    provider_fee: Mapped[int] = mapped_column(BigInteger, default=0)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
