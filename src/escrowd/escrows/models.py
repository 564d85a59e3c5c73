"""Tables: escrows, escrow_allocations, escrow_operations (migration 0009; keep them in step).

- ``escrows``: one row per escrow. ``status`` is the state machine's state; the ``amount_*``
  columns are gross amounts (the state machine's ``Amounts``); the ``ledger_*`` columns are what
  the escrow's ledger account saw (gross plus any payer surcharge), so ``escrowd ledger verify``
  can check the account's balance against them.
- ``escrow_allocations``: the slots or milestones, each with a payee (or none yet), a gross
  amount, its resolved fee policy, and the sums of the breakdown parts released and refunded
  so far (JSON objects of integer figures). Money claimed by operations in flight is read
  from their ``params`` (``Book``), so no other operation can take it.
- ``escrow_operations``: one row per provider call that moves money, written *before* the
  call. Its primary key is the idempotency key sent to the provider (``esc_…:fund:1``,
  ``esc_…:release:alloc_…:1``) and prefixes the ledger transfer ids of its result, so a
  replayed call and a replayed settlement both move money once.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from escrowd.db.base import Base, UTCDateTime

ID = String(40)
PROVIDER_ID = String(255)

STATUSES = (
    "requires_payment",
    "requires_action",
    "authorized",
    "held",
    "partially_refunded",
    "partially_released",
    "disputed",
    "released",
    "refunded",
    "cancelled",
    "expired",
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class OpKind(StrEnum):
    fund = "fund"
    capture = "capture"
    release = "release"
    refund = "refund"
    #: A refund of released money: the payees' transfers reversed, then the payer refunded.
    clawback = "clawback"


class OpStatus(StrEnum):
    #: Recorded; the provider call is about to be made (or the process died before it).
    pending = "pending"
    #: The provider did it and its result is applied.
    succeeded = "succeeded"
    #: The provider refused; nothing moved.
    failed = "failed"
    #: The call may or may not have happened (timeout, provider error): the janitor settles it.
    unknown = "unknown"


OPEN_OPS = (OpStatus.pending.value, OpStatus.unknown.value)


class Escrow(Base):
    __tablename__ = "escrows"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint(_in("capture_mode", ("authorize", "capture")), name="capture_mode"),
        CheckConstraint(
            "surcharge >= 0 AND amount_released >= 0 AND amount_refunded >= 0 "
            "AND amount_released + amount_refunded <= amount",
            name="amounts",
        ),
        CheckConstraint(
            "ledger_funded >= 0 AND ledger_released >= 0 AND ledger_refunded >= 0 "
            "AND ledger_released + ledger_refunded <= ledger_funded",
            name="ledger_amounts",
        ),
        Index("ix_escrows_status_expires_at", "status", "expires_at"),
        Index("ix_escrows_status_inspection_ends_at", "status", "inspection_ends_at"),
        Index("ix_escrows_status_capture_before", "status", "capture_before"),
    )

    #: ``esc_<ULID>``.
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    payer_id: Mapped[str] = mapped_column(ID, index=True)
    currency: Mapped[str] = mapped_column(String(3))
    #: Gross: the sum of the allocations' amounts.
    amount: Mapped[int] = mapped_column(BigInteger)
    #: What the payer pays on top (flat-rate processing cost borne by the payer).
    surcharge: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(24))
    capture_mode: Mapped[str] = mapped_column(String(16))
    #: ``capture`` or ``notify``: what the scheduler does before an authorization ends.
    on_authorization_deadline: Mapped[str] = mapped_column(String(16))
    #: The per-escrow fee override as given (a FeeOverride's dict), or null.
    fee_policy: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    description: Mapped[str | None] = mapped_column(String(500))
    meta: Mapped[dict[str, str]] = mapped_column("metadata", JSON, default=dict)

    payment_window_seconds: Mapped[int | None] = mapped_column(Integer)
    #: The payment window's end: unpaid by then, the escrow expires.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    inspection_period_seconds: Mapped[int | None] = mapped_column(Integer)
    #: Set when the money is held: released automatically then unless disputed.
    inspection_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    provider: Mapped[str | None] = mapped_column(String(16))
    payment_id: Mapped[str | None] = mapped_column(PROVIDER_ID, unique=True)
    charge_id: Mapped[str | None] = mapped_column(PROVIDER_ID)
    customer_id: Mapped[str | None] = mapped_column(PROVIDER_ID)
    payment_attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_action_url: Mapped[str | None] = mapped_column(Text)
    last_payment_error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: ``created`` of the newest provider payment event applied (orders payment-phase events).
    last_payment_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    authorized_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    capture_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    funded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The provider's actual fee on the charge (its balance transaction), once known.
    provider_fee: Mapped[int | None] = mapped_column(BigInteger)
    #: The fee as split over the allocations' breakdowns (null: not known before money moved).
    processing_cost_total: Mapped[int | None] = mapped_column(BigInteger)

    amount_released: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    ledger_funded: Mapped[int] = mapped_column(BigInteger, default=0)
    ledger_released: Mapped[int] = mapped_column(BigInteger, default=0)
    ledger_refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Payees' net taken back after release (reversals, clawbacks). The provider still
    #: counts it as transferred from the charge, so a re-release may not name the charge as
    #: its source (migration 0019).
    net_returned: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    allocations: Mapped[list[Allocation]] = relationship(
        lazy="selectin", order_by="Allocation.position", cascade="save-update, merge"
    )

    @property
    def charged(self) -> int:
        return self.amount + self.surcharge


class Allocation(Base):
    __tablename__ = "escrow_allocations"
    __table_args__ = (
        UniqueConstraint("escrow_id", "position"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )

    #: ``alloc_<ULID>``.
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    escrow_id: Mapped[str] = mapped_column(ID, ForeignKey("escrows.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    #: ``usr_…`` or ``org_…``; null for an open slot.
    payee_id: Mapped[str | None] = mapped_column(ID, index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    #: The resolved FeePolicy's dict.
    fee_policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: Sums of the breakdown parts released (net of reversals) and refunded so far.
    released: Mapped[dict[str, int]] = mapped_column(JSON)
    refunded: Mapped[dict[str, int]] = mapped_column(JSON)
    meta: Mapped[dict[str, str]] = mapped_column("metadata", JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Operation(Base):
    __tablename__ = "escrow_operations"
    __table_args__ = (
        CheckConstraint(_in("kind", tuple(k.value for k in OpKind)), name="kind"),
        CheckConstraint(_in("status", tuple(s.value for s in OpStatus)), name="status"),
        Index("ix_escrow_operations_status_updated_at", "status", "updated_at"),
    )

    #: The idempotency key sent to the provider, e.g. ``esc_…:release:alloc_…:1``.
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    escrow_id: Mapped[str] = mapped_column(
        ID, ForeignKey("escrows.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    allocation_id: Mapped[str | None] = mapped_column(ID)
    status: Mapped[str] = mapped_column(String(16))
    #: Gross money the operation moves (fund/capture: what is charged).
    amount: Mapped[int] = mapped_column(BigInteger)
    #: What the provider call moves (a transfer's net, a refund with its surcharge).
    provider_amount: Mapped[int] = mapped_column(BigInteger)
    #: Everything needed to make the call again (and to settle it).
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    provider_object_id: Mapped[str | None] = mapped_column(PROVIDER_ID, index=True)
    #: A transfer's reversed amount recorded so far (transfer.reversed events).
    reversed: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
