"""Both sides of a reconciliation, read into domain.py's terms.

- ``their_window``: the provider's objects created in a time window, from its lists (a page
  of 100 per call): payments with their charge and fee, invoices with the payment that paid
  them, refunds, transfers, and the transfers whose reversals fall in the window.
- ``ledger_window``: what the ledger booked in the window (its escrow and subscription
  invoice transfers), as the escrows, invoices, refund and release operations it touched,
  plus the day's totals.
- ``load_ours``: escrowd's records of those escrows, invoices and operations, whole.
- ``their_payments_by_id``: for a provider escrowd does not list by date (PayPal), each named
  payment read by id with its refunds; ``escrows_paid_through`` the escrows created in the
  window with a payment there; ``load_payouts`` / ``their_payout`` the payouts to compare.

Database reads and provider calls never overlap: on SQLite every transaction holds the write
lock, which the in-process sandbox needs to answer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.escrows.ledgering import release_key_of
from escrowd.escrows.models import OPEN_OPS, Escrow, Operation, OpKind, OpStatus
from escrowd.escrows.recovery import is_recovery
from escrowd.ledger.models import LedgerTransfer
from escrowd.payouts import domain as payout_domain
from escrowd.payouts.models import Payout
from escrowd.providers.base import PaymentProvider
from escrowd.providers.errors import ProviderError
from escrowd.providers.types import Invoice, PaymentRecord, Refund, TimeRange, Transfer
from escrowd.reconcile.domain import (
    OurInvoice,
    OurPayment,
    OurPayout,
    OurRefund,
    OurTransfer,
    TheirPayment,
    TheirPayout,
    TheirTransfer,
    refund_moved,
)
from escrowd.subscriptions.domain import fee_transfer_id, invoice_of_transfer, revenue_transfer_id

#: The day's totals, by what moved.
MEASURES = ("charges", "fees", "refunds", "transfers", "reversals")
#: Ledger transfer categories (escrows/ledgering.py) → the measure they count towards.
CATEGORY_MEASURE = {
    "payment": "charges",
    "capture": "charges",
    "processing_fee": "fees",
    "release": "transfers",
    "refund": "refunds",
    "reversal": "reversals",
    # Subscription invoices are charged by the provider like escrow payments, their fees
    # booked as ``processing_fee`` (subscriptions/service.py books both).
    "subscription": "charges",
}
_FUNDING = ("payment", "capture", "processing_fee")
#: Bound on ids per ``IN (…)`` (SQLite's parameter limit, PostgreSQL's plan size).
CHUNK = 500

#: (day, currency) → measure → amount.
Totals = dict[tuple[date, str], dict[str, int]]


def their_payment(record: PaymentRecord) -> TheirPayment:
    p, ch = record.payment, record.charge
    return TheirPayment(
        id=p.id,
        status=p.status.value,
        currency=p.currency,
        received=ch.amount_captured if ch is not None else p.amount_received,
        fee=ch.fee if ch is not None else None,
        # PayPal orders have no metadata: escrowd names the escrow in the order's custom_id.
        escrow_id=p.metadata.get("escrow_id") or (p.transfer_group if not p.metadata else None),
        invoice_id=record.invoice_id,
    )


def their_transfer(t: Transfer) -> TheirTransfer:
    return TheirTransfer(
        id=t.id,
        escrow_id=t.transfer_group or t.metadata.get("escrow_id") or None,
        currency=t.currency,
        amount=t.amount,
        reversed=t.amount_reversed,
    )


def _add(totals: Totals, day: date, currency: str, measure: str, amount: int) -> None:
    bucket = totals.setdefault((day, currency), dict.fromkeys(MEASURES, 0))
    bucket[measure] += amount


@dataclass
class Theirs:
    payments: dict[str, TheirPayment] = field(default_factory=dict)
    invoices: dict[str, Invoice] = field(default_factory=dict)
    refunds: dict[str, Refund] = field(default_factory=dict)
    transfers: dict[str, TheirTransfer] = field(default_factory=dict)
    totals: Totals = field(default_factory=dict)


async def their_window(provider: PaymentProvider, window: TimeRange) -> Theirs:
    out = Theirs()
    day = window.gte.date()
    async for record in provider.list_payments(window):
        mine = their_payment(record)
        out.payments[mine.id] = mine
        if mine.succeeded:
            _add(out.totals, day, mine.currency, "charges", mine.received)
            _add(out.totals, day, mine.currency, "fees", mine.fee or 0)
    async for invoice in provider.list_invoices(window):
        out.invoices[invoice.id] = invoice
    async for refund in provider.list_refunds(created=window):
        out.refunds[refund.id] = refund
        if moved := refund_moved(refund.status, refund.amount):
            _add(out.totals, day, refund.currency, "refunds", moved)
    async for transfer in provider.list_transfers(created=window):
        out.transfers[transfer.id] = their_transfer(transfer)
        _add(out.totals, day, transfer.currency, "transfers", transfer.amount)
    async for reversal in provider.list_transfer_reversals(window):
        _add(out.totals, day, reversal.currency, "reversals", reversal.amount)
        if reversal.transfer is not None:
            out.transfers.setdefault(reversal.transfer_id, their_transfer(reversal.transfer))
    return out


async def their_payments_by_id(
    provider: PaymentProvider, payment_ids: Iterable[str], window: TimeRange | None = None
) -> Theirs:
    """The provider's side of the payments named, read one by one (for a provider with no
    listing by date, PayPal: each order with its captures, PayPal's fee and its refunds).
    A payment the provider does not know is left out (``compare`` reports it missing). With
    ``window``, the day's totals count the payments and refunds created in it."""
    out = Theirs()
    for pid in sorted(set(payment_ids)):
        try:
            record = await provider.retrieve_payment_record(pid)
        except ProviderError as exc:
            if not exc.missing:
                raise
            continue
        mine = their_payment(record)
        out.payments[mine.id] = mine
        created = record.payment.created
        if window is not None and mine.succeeded and _within(created, window):
            _add(out.totals, window.gte.date(), mine.currency, "charges", mine.received)
            _add(out.totals, window.gte.date(), mine.currency, "fees", mine.fee or 0)
        async for refund in provider.list_refunds(payment_id=pid):
            out.refunds[refund.id] = refund
            moved = refund_moved(refund.status, refund.amount)
            if window is not None and moved and _within(refund.created, window):
                _add(out.totals, window.gte.date(), refund.currency, "refunds", moved)
    return out


def _within(when: datetime | None, window: TimeRange) -> bool:
    return when is not None and window.gte <= when < window.lt


async def escrows_paid_through(session: AsyncSession, provider: str, window: TimeRange) -> set[str]:
    """Escrows paid through ``provider`` created in ``window`` with a payment at it: their
    payment may have been taken at the provider without the ledger knowing."""
    stmt = select(Escrow.id).where(
        Escrow.provider == provider,
        Escrow.payment_id.is_not(None),
        Escrow.created_at >= window.gte,
        Escrow.created_at < window.lt,
    )
    return set(await session.scalars(stmt))


async def load_payouts(
    session: AsyncSession,
    provider: str,
    *,
    window: TimeRange | None = None,
    payout_ids: Iterable[str] = (),
) -> list[OurPayout]:
    """escrowd's payouts through ``provider`` made or settled in ``window`` (or those named),
    with what the ledger sent out for each."""
    stmt = select(Payout).where(Payout.provider == provider)
    if window is not None:
        stmt = stmt.where(
            or_(
                and_(Payout.created_at >= window.gte, Payout.created_at < window.lt),
                and_(Payout.updated_at >= window.gte, Payout.updated_at < window.lt),
            )
        )
    rows: list[Payout] = []
    ids = list(payout_ids)
    if window is not None:
        rows = list(await session.scalars(stmt))
    for chunk in _chunks(ids):
        rows += list(await session.scalars(stmt.where(Payout.id.in_(chunk))))
    sent = await _amounts_by_id(session, [payout_domain.sent_id(p.id) for p in rows])
    return [
        OurPayout(
            payout_id=p.id,
            party_id=p.party_id,
            currency=p.currency,
            provider_payout_id=p.provider_payout_id,
            status=p.status,
            sent=sent.get(payout_domain.sent_id(p.id), 0),
        )
        for p in {p.id: p for p in rows}.values()
    ]


async def their_payout(provider: PaymentProvider, ours: OurPayout) -> TheirPayout | None:
    """The provider's payout for one of ours (None: it has none, or does not know it)."""
    if ours.provider_payout_id is None:
        return None
    try:
        found = await provider.retrieve_payout(ours.provider_payout_id)
    except ProviderError as exc:
        if not exc.missing:
            raise
        return None
    return TheirPayout(
        id=found.id, currency=found.currency, amount=found.amount, status=found.status
    )


@dataclass
class Touched:
    """What the ledger booked in a window: the records to compare, and the day's totals."""

    escrows: set[str] = field(default_factory=set)
    invoices: set[str] = field(default_factory=set)
    refund_keys: set[str] = field(default_factory=set)
    release_keys: set[str] = field(default_factory=set)
    totals: Totals = field(default_factory=dict)
    #: Escrow → (measure, currency) → what the day's releases and reversals moved for it.
    payee_moves: dict[str, dict[tuple[str, str], int]] = field(default_factory=dict)

    def leave_out_payee_moves(self, day: date, escrow_ids: Iterable[str]) -> None:
        """Take these escrows' releases and reversals out of the day's totals: they were paid
        through a provider with no transfers (PayPal), where they moved money only in the
        ledger, so no provider total has them."""
        for eid in escrow_ids:
            for (measure, currency), amount in self.payee_moves.pop(eid, {}).items():
                _add(self.totals, day, currency, measure, -amount)


async def escrows_through(
    session: AsyncSession, escrow_ids: Iterable[str], providers: Sequence[str]
) -> set[str]:
    """Those of ``escrow_ids`` paid through one of ``providers``."""
    out: set[str] = set()
    for chunk in _chunks(escrow_ids):
        stmt = select(Escrow.id).where(Escrow.id.in_(chunk), Escrow.provider.in_(providers))
        out.update(await session.scalars(stmt))
    return out


async def ledger_window(session: AsyncSession, window: TimeRange) -> Touched:
    t = LedgerTransfer
    stmt = select(t.id, t.reference, t.category, t.amount, t.currency).where(
        t.created_at >= window.gte,
        t.created_at < window.lt,
        t.category.in_(tuple(CATEGORY_MEASURE)),
    )
    out = Touched()
    day = window.gte.date()
    async for row in await session.stream(stmt):
        _add(out.totals, day, row.currency, CATEGORY_MEASURE[row.category], row.amount)
        if invoice := invoice_of_transfer(row.id, row.category):
            out.invoices.add(invoice)
        elif row.category in _FUNDING and row.reference:
            out.escrows.add(row.reference)
        elif row.category == "refund":
            out.refund_keys.add(row.id)
        elif row.category in ("release", "reversal") and (key := release_key_of(row.id)):
            out.release_keys.add(key)
        if row.category in ("release", "reversal") and row.reference:
            moves = out.payee_moves.setdefault(row.reference, {})
            slot = (CATEGORY_MEASURE[row.category], row.currency)
            moves[slot] = moves.get(slot, 0) + row.amount
    return out


@dataclass
class Ours:
    payments: dict[str, OurPayment] = field(default_factory=dict)
    #: Subscription invoices booked, by invoice id.
    invoices: dict[str, OurInvoice] = field(default_factory=dict)
    refunds: dict[str, OurRefund] = field(default_factory=dict)
    transfers: dict[str, OurTransfer] = field(default_factory=dict)
    #: Payment id → escrow id, for every escrow read.
    escrow_of_payment: dict[str, str] = field(default_factory=dict)
    #: Escrows with an operation in flight: their differences may be settling right now.
    in_flight: set[str] = field(default_factory=set)


def _chunks(ids: Iterable[str]) -> list[list[str]]:
    items = sorted(set(ids))
    return [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]


async def _ledger_sums(
    session: AsyncSession, references: Iterable[str], categories: Sequence[str]
) -> dict[tuple[str, str], int]:
    t = LedgerTransfer
    sums: dict[tuple[str, str], int] = {}
    for chunk in _chunks(references):
        rows = await session.execute(
            select(t.reference, t.category, func.sum(t.amount))
            .where(t.reference.in_(chunk), t.category.in_(categories))
            .group_by(t.reference, t.category)
        )
        for reference, category, total in rows:
            sums[(str(reference), str(category))] = int(total)
    return sums


async def _amounts_by_id(session: AsyncSession, ids: Iterable[str]) -> dict[str, int]:
    t = LedgerTransfer
    found: dict[str, int] = {}
    for chunk in _chunks(ids):
        for tid, amount in await session.execute(select(t.id, t.amount).where(t.id.in_(chunk))):
            found[tid] = int(amount)
    return found


async def _ops(
    session: AsyncSession, kind: OpKind, keys: Iterable[str], object_ids: Iterable[str]
) -> list[Operation]:
    found: dict[str, Operation] = {}
    for chunk in _chunks(keys):
        stmt = select(Operation).where(Operation.kind == kind.value, Operation.key.in_(chunk))
        found.update((op.key, op) for op in await session.scalars(stmt))
    for chunk in _chunks(object_ids):
        stmt = select(Operation).where(
            Operation.kind == kind.value, Operation.provider_object_id.in_(chunk)
        )
        found.update((op.key, op) for op in await session.scalars(stmt))
    return list(found.values())


async def load_ours(
    session: AsyncSession,
    *,
    escrow_ids: Iterable[str] = (),
    payment_ids: Iterable[str] = (),
    refund_keys: Iterable[str] = (),
    refund_ids: Iterable[str] = (),
    release_keys: Iterable[str] = (),
    transfer_ids: Iterable[str] = (),
    invoice_ids: Iterable[str] = (),
    provider: str | None = None,
    default: bool = True,
    transfers: bool = True,
) -> Ours:
    """escrowd's side of the escrows, invoices, refunds and releases named (by our ids or
    theirs). With ``provider``, only escrows paid through it (or, when it is the ``default``,
    through no named provider, before escrows chose one) and their operations: another
    provider's are not on its lists. Without ``transfers`` (a provider with no transfers,
    such as PayPal, where a release moves money only in the ledger) releases are not read."""
    accepted = {provider, None} if default else {provider}
    refund_keys, refund_ids = list(refund_keys), list(refund_ids)
    # A clawback refunds the payer too: its operation's key is its refund's ledger transfer.
    # A chargeback's recovery (the same kind) refunds nothing: the card holder's bank did.
    refund_ops = [
        *await _ops(session, OpKind.refund, refund_keys, refund_ids),
        *(
            op
            for op in await _ops(session, OpKind.clawback, refund_keys, refund_ids)
            if not is_recovery(op)
        ),
    ]
    release_ops = (
        await _ops(session, OpKind.release, release_keys, transfer_ids) if transfers else []
    )
    wanted = set(escrow_ids) | {op.escrow_id for op in (*refund_ops, *release_ops)}
    escrows: dict[str, tuple[str, str | None]] = {}
    cols = (Escrow.id, Escrow.currency, Escrow.payment_id, Escrow.provider)
    for chunk in _chunks(wanted):
        for eid, cur, pid, via in await session.execute(select(*cols).where(Escrow.id.in_(chunk))):
            if provider is None or via in accepted:
                escrows[eid] = (cur, pid)
    for chunk in _chunks(payment_ids):
        for eid, cur, pid, via in await session.execute(
            select(*cols).where(Escrow.payment_id.in_(chunk))
        ):
            if provider is None or via in accepted:
                escrows[eid] = (cur, pid)
    refund_ops = [op for op in refund_ops if op.escrow_id in escrows]
    release_ops = [op for op in release_ops if op.escrow_id in escrows]
    out = Ours(invoices=await load_invoices(session, invoice_ids))
    funding = await _ledger_sums(session, escrows, _FUNDING)
    for eid, (cur, pid) in escrows.items():
        if pid:
            out.escrow_of_payment[pid] = eid
        fee = funding.get((eid, "processing_fee"))
        out.payments[eid] = OurPayment(
            escrow_id=eid,
            currency=cur,
            payment_id=pid,
            funded=funding.get((eid, "payment"), 0) + funding.get((eid, "capture"), 0),
            fee=fee,
        )
    for chunk in _chunks(escrows):
        stmt = select(Operation.escrow_id).where(
            Operation.escrow_id.in_(chunk), Operation.status.in_(OPEN_OPS)
        )
        out.in_flight.update(await session.scalars(stmt))
    booked = await _amounts_by_id(session, [op.key for op in refund_ops if _done(op)])
    for op in refund_ops:
        if _done(op):
            out.refunds[op.key] = OurRefund(
                key=op.key,
                escrow_id=op.escrow_id,
                currency=escrows[op.escrow_id][0],
                refund_id=op.provider_object_id,
                amount=booked.get(op.key, 0),
            )
    nets = await _amounts_by_id(session, [f"{op.key}:net" for op in release_ops])
    reversals = await _reversals(session, {op.escrow_id for op in release_ops})
    for op in release_ops:
        # A release whose net is zero (the fee took it all) makes no transfer.
        if _done(op) and op.provider_amount > 0:
            out.transfers[op.key] = OurTransfer(
                key=op.key,
                escrow_id=op.escrow_id,
                currency=escrows[op.escrow_id][0],
                transfer_id=op.provider_object_id,
                amount=nets.get(f"{op.key}:net", 0),
                reversed=reversals.get(op.key, 0),
            )
    return out


async def load_invoices(session: AsyncSession, invoice_ids: Iterable[str]) -> dict[str, OurInvoice]:
    """The subscription invoices booked among ``invoice_ids``: revenue and fee, by invoice."""
    t = LedgerTransfer
    wanted = {tid for i in invoice_ids for tid in (revenue_transfer_id(i), fee_transfer_id(i))}
    rows: dict[str, tuple[str | None, str, int]] = {}
    for chunk in _chunks(wanted):
        stmt = select(t.id, t.reference, t.currency, t.amount).where(t.id.in_(chunk))
        for tid, reference, currency, amount in await session.execute(stmt):
            rows[tid] = (reference, currency, int(amount))
    out: dict[str, OurInvoice] = {}
    for invoice_id in {tid.rpartition(":")[0] for tid in rows}:
        revenue = rows.get(revenue_transfer_id(invoice_id))
        fee = rows.get(fee_transfer_id(invoice_id))
        reference, currency, _ = revenue or fee or (None, "", 0)
        out[invoice_id] = OurInvoice(
            invoice_id=invoice_id,
            subscription_id=reference,
            currency=currency,
            amount=revenue[2] if revenue else 0,
            fee=fee[2] if fee else None,
        )
    return out


def _done(op: Operation) -> bool:
    return op.status == OpStatus.succeeded.value


async def _reversals(session: AsyncSession, escrow_ids: Iterable[str]) -> dict[str, int]:
    """Reversals booked per release operation key (``<key>:reversed:<total>`` transfers)."""
    t = LedgerTransfer
    out: dict[str, int] = defaultdict(int)
    for chunk in _chunks(escrow_ids):
        rows = await session.execute(
            select(t.id, t.amount).where(t.reference.in_(chunk), t.category == "reversal")
        )
        for tid, amount in rows:
            out[release_key_of(tid) or tid] += int(amount)
    return out


__all__ = [
    "MEASURES",
    "Ours",
    "Theirs",
    "Totals",
    "Touched",
    "escrows_paid_through",
    "escrows_through",
    "ledger_window",
    "load_invoices",
    "load_ours",
    "load_payouts",
    "their_payment",
    "their_payments_by_id",
    "their_payout",
    "their_transfer",
    "their_window",
]
