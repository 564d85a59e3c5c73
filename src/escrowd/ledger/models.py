"""Ledger tables. Migration 0002 creates them; keep the two in step.

The service writes through SQLAlchemy Core on these tables (``LedgerAccount.__table__`` ...)
for speed; the ORM classes are for reading and for other modules' queries. Entries and
transfers are append-only: the only update a transfer row ever gets is a pending transfer's
``state`` going from ``pending`` to ``posted`` or ``voided``, once.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from escrowd.db.base import Amount, Base, UTCDateTime

#: Entry ids: 64-bit on PostgreSQL; SQLite only autoincrements an INTEGER PRIMARY KEY.
EntryId = BigInteger().with_variant(Integer(), "sqlite")


class LedgerAccount(Base):
    __tablename__ = "ledger_accounts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    #: What the account is for, unique per currency: ``escrow:esc_123``, ``platform:fees``.
    #: Indexed alone too (migration 0012): a party's balances are read by code, all currencies.
    code: Mapped[str] = mapped_column(String(200), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    flags: Mapped[int] = mapped_column(Integer, default=0)
    debits_pending: Mapped[int] = mapped_column(Amount, default=0)
    debits_posted: Mapped[int] = mapped_column(Amount, default=0)
    credits_pending: Mapped[int] = mapped_column(Amount, default=0)
    credits_posted: Mapped[int] = mapped_column(Amount, default=0)
    #: Bumped by every entry on the account; the entries' ``version_after`` run 1..version.
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("currency", "code", name="uq_ledger_accounts_currency_code"),
        CheckConstraint("flags IN (0, 1, 2)", name="flags"),
        CheckConstraint(
            "debits_pending >= 0 AND debits_posted >= 0 AND credits_pending >= 0 "
            "AND credits_posted >= 0 AND version >= 0",
            name="figures_not_negative",
        ),
        CheckConstraint(
            "(flags & 1) = 0 OR debits_pending + debits_posted <= credits_posted",
            name="debits_within_credits",
        ),
        CheckConstraint(
            "(flags & 2) = 0 OR credits_pending + credits_posted <= debits_posted",
            name="credits_within_debits",
        ),
        CheckConstraint("currency = lower(currency) AND length(currency) = 3", name="currency"),
    )


class LedgerTransfer(Base):
    __tablename__ = "ledger_transfers"

    #: Chosen by the client; it is what makes a transfer idempotent.
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    debit_account_id: Mapped[str] = mapped_column(ForeignKey("ledger_accounts.id"))
    credit_account_id: Mapped[str] = mapped_column(ForeignKey("ledger_accounts.id"))
    amount: Mapped[int] = mapped_column(Amount)
    currency: Mapped[str] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(16))
    #: For post_pending / void_pending: the hold settled. Unique, so a hold settles once.
    pending_id: Mapped[str | None] = mapped_column(ForeignKey("ledger_transfers.id"), unique=True)
    #: For pending transfers only: pending → posted | voided.
    state: Mapped[str | None] = mapped_column(String(8))
    #: The first transfer id of the linked chain this one was created in.
    batch_id: Mapped[str | None] = mapped_column(String(128))
    #: The business object the movement belongs to (``esc_…``, ``po_…``).
    reference: Mapped[str | None] = mapped_column(String(128), index=True)
    #: What the movement is, for statements: ``payment``, ``fee``, ``payout``, ``refund``.
    category: Mapped[str | None] = mapped_column(String(32))
    effective_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: SHA-256 of the request's fields: a replay with another payload is refused.
    payload_hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("debit_account_id <> credit_account_id", name="accounts_differ"),
        CheckConstraint(
            "kind IN ('posted', 'pending', 'post_pending', 'void_pending')", name="kind"
        ),
        CheckConstraint(
            "(kind IN ('posted', 'pending') AND pending_id IS NULL) OR "
            "(kind IN ('post_pending', 'void_pending') AND pending_id IS NOT NULL)",
            name="pending_id_by_kind",
        ),
        CheckConstraint(
            "(kind = 'pending' AND state IN ('pending', 'posted', 'voided')) OR "
            "(kind <> 'pending' AND state IS NULL)",
            name="state_by_kind",
        ),
    )


class LedgerEntry(Base):
    """One side of a transfer on one account; never updated, never deleted.

    ``posted_*`` / ``pending_*`` are the account's net figures (credits minus debits) before
    and after the entry, so a statement can show a running balance.
    """

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(EntryId, primary_key=True, autoincrement=True)
    transfer_id: Mapped[str] = mapped_column(ForeignKey("ledger_transfers.id"))
    account_id: Mapped[str] = mapped_column(ForeignKey("ledger_accounts.id"))
    side: Mapped[str] = mapped_column(String(6))
    amount: Mapped[int] = mapped_column(Amount)
    posted_before: Mapped[int] = mapped_column(Amount)
    posted_after: Mapped[int] = mapped_column(Amount)
    pending_before: Mapped[int] = mapped_column(Amount)
    pending_after: Mapped[int] = mapped_column(Amount)
    version_after: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        # One debit and one credit entry per transfer; also the index for joins by transfer.
        UniqueConstraint("transfer_id", "side", name="uq_ledger_entries_transfer_id_side"),
        # An account's history in order, and no two entries claim the same version.
        UniqueConstraint(
            "account_id", "version_after", name="uq_ledger_entries_account_id_version_after"
        ),
        CheckConstraint("side IN ('debit', 'credit')", name="side"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("version_after > 0", name="version_positive"),
    )


class LedgerFailedTransfer(Base):
    """An id whose transfer was refused against the ledger's state: it stays failed."""

    __tablename__ = "ledger_failed_transfers"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    payload_hash: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


# The tables, typed as tables, for Core statements (``__table__`` is typed as a FromClause).
ACCOUNTS = cast(Table, LedgerAccount.__table__)
TRANSFERS = cast(Table, LedgerTransfer.__table__)
ENTRIES = cast(Table, LedgerEntry.__table__)
FAILED = cast(Table, LedgerFailedTransfer.__table__)
